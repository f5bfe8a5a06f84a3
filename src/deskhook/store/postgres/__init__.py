"""The `Store` on PostgreSQL, with its migrations and the notifications between replicas."""
