"""The biometric matcher: Annoy-indexed galleries behind an internal gRPC service.

It holds no policy: it applies exactly the filters the broker pushes down. It never imports
`broker`, so it can be deployed and tested on its own.
"""
