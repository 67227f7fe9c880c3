"""paysandbox."""
