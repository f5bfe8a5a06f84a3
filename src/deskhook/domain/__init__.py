"""Pure rules and values, without I/O: channels, events, matching, retry, breaker, signing, URL
policy, paging; every other package may import it, and it imports none of them."""
