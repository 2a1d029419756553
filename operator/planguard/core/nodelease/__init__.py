"""Node leases: the pure decisions of the lease manager (check-ins, leases, taints)."""
