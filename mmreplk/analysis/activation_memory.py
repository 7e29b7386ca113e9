"""Exact training-memory accounting on any device: the bytes autograd keeps
for the backward pass."""
import torch


class SavedTensorBytes:
    """Context manager summing into :attr:`bytes` the distinct storages
    autograd saves for backward while active, except those of ``exclude``
    (e.g. ``model.parameters()``): the activation memory a training step
    holds at the end of its forward pass, exact on any device."""

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
