"""Local stand-ins for the systems contactsync talks to, for tests."""
