"""HTTP layer: Powertools resolvers, request parsing, and the one error-to-response mapping."""
