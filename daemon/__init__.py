"""certd: the certlib signing daemon (gRPC over mutual TLS), a thin layer over certlib."""
