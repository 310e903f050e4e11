"""optichannel shared kernel: channels, time slots, feed contracts, settings.

Everything above this package (features, simulator, training, serving, experiments,
pipeline) may import it; it imports none of them.
"""

__version__ = "0.1.0"
