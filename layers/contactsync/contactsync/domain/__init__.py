"""The canonical model of the product: what a contact is, whatever sent it."""
