"""What clients reach: the gRPC servicers with their conversions, auth and interceptors, and the
HTTP metrics and probes endpoint, with what they serve from memory (the Prometheus metrics, the
live webhook log feed); it calls the use cases in core and never imports delivery."""
