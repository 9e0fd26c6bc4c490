"""Authentication: who is calling. Whether they may is the policy's business (broker/policy)."""
