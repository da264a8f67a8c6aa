"""Queue consumers: Powertools batch processors and their record handlers."""
