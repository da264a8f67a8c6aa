"""What the product does, written against ports only."""
