"""Settings shared by every test: Hypothesis checks properties, never how fast they compute.

Hypothesis fails an example that takes longer than 200 ms by default. On a loaded
2-core machine that is a timing assertion no test asked for, so the profile loaded
here has no deadline; a test that wants other settings still sets them with
``@settings``, on top of this profile.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("contactsync", deadline=None)
settings.load_profile("contactsync")
