"""The shift-add op: ``add_shift``, its table inversion and the names of its
back ends."""
from .api import add_shift
from .backends import DISPATCHER, IMPLS
from .tables import invert_shift_tables

__all__ = ['add_shift', 'invert_shift_tables', 'DISPATCHER', 'IMPLS']
