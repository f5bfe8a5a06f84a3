"""The use cases: what each RPC does (channel administration, event ingest, the webhook log)
and retention, over the store and the domain rules; what they need from delivery (the
connection test) they declare as a Protocol that the server fills in, so core never imports
delivery."""
