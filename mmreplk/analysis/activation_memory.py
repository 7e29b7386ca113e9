"""Exact training-memory accounting on any device: the bytes autograd keeps
for the backward pass."""
import torch


class SavedTensorBytes:
    """Context manager summing the bytes of the distinct tensors autograd
    saves for backward while it is active.

    Storages are counted once however often they are saved, and parameters
    (which exist whether or not anything is trained) are excluded, so the total
    is the activation memory a training step holds at the end of its forward
    pass. It is exact and deterministic on CPU, where no caching allocator
    reports a peak.

    Args:
        exclude (Iterable[Tensor]): Tensors not to count, e.g.
            ``model.parameters()``.

    Example:
        >>> with SavedTensorBytes(model.parameters()) as saved:
        ...     loss = model(x).sum()
        >>> saved.bytes
    """

    def __init__(self, exclude=()):
        self._excluded = {self._key(t) for t in exclude}
        self._seen = set()
        self.bytes = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(
            self._pack, lambda packed: packed)

    @staticmethod
    def _key(tensor):
        storage = tensor.untyped_storage()
        return storage.data_ptr(), storage.nbytes()

    def _pack(self, tensor):
        if tensor.layout == torch.strided and tensor.device.type != 'meta':
            key = self._key(tensor)
            if key not in self._excluded and key not in self._seen:
                self._seen.add(key)
                self.bytes += key[1]
        return tensor

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)
