"""DNS providers: RFC 2136 on BIND first, behind the small interface in provider.py."""
