"""Networks whose sublayers build on the first call.

Keras builds a layer that has no ``build`` method by tracing its whole
``call`` on symbolic inputs first (``Layer._maybe_build``): for a network of
layers that each build from the shapes they receive, that is one more graph
of the network for nothing (~1 s of Python for a tiny SPADE generator, ~60%
of building a GauGAN). With :class:`BuildsOnFirstCall`, ``build`` creates
nothing and every sublayer builds itself, by its own ``build``, when the
first real call reaches it: the same variables, in the same order.
"""

__all__ = ["BuildsOnFirstCall"]


class BuildsOnFirstCall:
    """Mixin (before ``keras.Model`` in the bases) for networks without
    variables of their own: their sublayers build on the first call.

    An explicit ``network.build(shape)`` therefore creates no variables: call
    the network once (on zeros of the smallest size it takes, as the tasks'
    ``build_networks()`` do) before counting or loading its weights."""

    def build(self, input_shape=None):
        pass  # the sublayers build themselves when the first call reaches them
