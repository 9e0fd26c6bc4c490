"""The append-only, hash-chained, signed audit log and the RFC 6962 / C2SP pieces it rests on."""
