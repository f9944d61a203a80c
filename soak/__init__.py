"""`make soak`: the whole system under mixed traffic while processes are killed and Redis is
stopped, then a check that nothing acknowledged or published was lost (soak/run.py)."""
