"""One module per certsvc.v1 service: translate protobuf to certlib calls and back."""
