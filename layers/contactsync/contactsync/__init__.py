"""contactsync: the contact sync and consent hub.

Dependency direction: handlers (functions/) -> use_cases -> ports <- adapters.
Only modules under ``contactsync.adapters`` touch boto3 or requests.
"""

__version__ = "0.1.0"
