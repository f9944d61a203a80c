"""Rate limits per API key and per client address, counted in Redis with the `limits` library."""
