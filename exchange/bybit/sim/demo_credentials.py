"""The demo account's API key and secret: documented constants, not secrets.

They only open the local exchange's demo account (printed in the README and by ``fluxum sim``); Bybit itself
would reject them. Anything that logs credentials still redacts these like real ones.
"""

from __future__ import annotations

DEMO_API_KEY = "FLUXUMDEMOKEY00001"
DEMO_API_SECRET = "fluxum-demo-secret-NOT-A-REAL-KEY"
