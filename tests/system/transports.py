"""The virtio transports guest-boot tests run their devices on. "pci" joins this list once the
virtio-pci transport is in the VMM; every test parametrized over it then covers both."""

TRANSPORTS = ["mmio"]
