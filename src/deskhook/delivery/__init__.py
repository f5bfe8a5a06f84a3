"""Sending webhooks: the HTTPS client, the webhook bodies, the connection test and the scheduler
that claims due deliveries and attempts them, over the store and the domain rules; it knows
nothing of the API or the use cases."""
