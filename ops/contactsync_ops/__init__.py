"""Operator tools of contactsync: the `contactsync` CLI and the embedded local stack."""
