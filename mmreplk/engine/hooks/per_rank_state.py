"""State that each process of a run has its own copy of (random number
generators, measured back-end choices), kept for every rank in each
checkpoint so that ``--resume`` continues every rank exactly.

mmengine saves checkpoints on rank 0 only (``Runner.save_checkpoint`` is
``master_only``), so rank 0 alone cannot ask the others for their state
while it saves. The ranks exchange it at the points where the checkpoint
hook is about to save (the same iteration/epoch rule, evaluated on every
rank, just before that hook runs); rank 0 then stores the gathered list.
On resume each rank restores its own entry, or rank 0's when the world size
changed (with a log line).
"""
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log


class PerRankStateHook(Hook):
    """Base of hooks that keep one object per rank in the checkpoint's
    ``meta[meta_key]`` as ``dict(world_size=W, ranks=[state_0, ...])``.

    Subclasses set :attr:`meta_key` and implement :meth:`capture` and
    :meth:`restore`.
    """

    # Before CheckpointHook (VERY_LOW), so the states are gathered when it
    # saves.
    priority = 'LOW'
    meta_key = ''

    def __init__(self):
        self._checkpoint_hook = None
        self._gathered = None
        self._gathered_at = None

    def capture(self, runner):
        """This rank's state (picklable)."""
        raise NotImplementedError

    def restore(self, runner, state):
        """Make ``state`` (this rank's, or rank 0's) this rank's state."""
        raise NotImplementedError

    # ------------------------------------------------------- gathering
    def before_run(self, runner):
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        self._checkpoint_hook = hooks[0] if hooks else None

    def _gather(self, runner):
        if get_world_size() > 1:
            self._gathered = all_gather_object(self.capture(runner))
            self._gathered_at = (runner.epoch, runner.iter)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        hook = self._checkpoint_hook
        if hook is None or hook.by_epoch:
            return
        if hook.every_n_train_iters(runner, hook.interval, hook.save_begin) \
                or (hook.save_last and hook.is_last_train_iter(runner)):
            self._gather(runner)

    def after_train_epoch(self, runner):
        hook = self._checkpoint_hook
        if hook is None or not hook.by_epoch:
            return
        if hook.every_n_epochs(runner, hook.interval, hook.save_begin) or (
                hook.save_last and hook.is_last_train_epoch(runner)):
            self._gather(runner)

    def after_val_epoch(self, runner, metrics=None):
        hook = self._checkpoint_hook
        if hook is not None and hook.save_best is not None:
            self._gather(runner)

    def before_save_checkpoint(self, runner, checkpoint):
        world = get_world_size()
        if world == 1:
            states = [self.capture(runner)]
        elif self._gathered is not None and \
                self._gathered_at == (runner.epoch, runner.iter):
            states = self._gathered
        else:
            print_log(
                f'{type(self).__name__}: a checkpoint is saved outside the '
                "checkpoint hook's schedule; it keeps rank 0's state only, "
                'so a resumed run gives every rank rank 0\'s.',
                logger='current',
                level=30)
            states = [self.capture(runner)]
            world = 1
        checkpoint.setdefault('meta', {})[self.meta_key] = dict(
            world_size=world, ranks=states)

    # -------------------------------------------------------- restoring
    def after_load_checkpoint(self, runner, checkpoint):
        # Only a resumed run continues; load_from (fine-tuning) starts anew.
        stored = checkpoint.get('meta', {}).get(self.meta_key)
        if not getattr(runner, '_resume', False) or not stored:
            return
        rank, world = get_rank(), get_world_size()
        if stored['world_size'] == world:
            self.restore(runner, stored['ranks'][rank])
            return
        print_log(
            f'{type(self).__name__}: the checkpoint holds '
            f"{stored['world_size']} rank(s)' state and this run has "
            f"{world}: every rank continues from rank 0's.",
            logger='current')
        self.restore(runner, stored['ranks'][0])
