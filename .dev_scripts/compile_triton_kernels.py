#!/usr/bin/env python
"""Compile every shipped Triton kernel configuration (large-kernel depthwise
conv, shift-add) ahead of time for real
GPUs (no GPU needed) and report registers and spills (local memory).

    python .dev_scripts/compile_triton_kernels.py [--arch 80 90] [--json OUT]

Uses ``triton.compile(ASTSource(...), target=GPUTarget('cuda', CC, 32))``
for the PTX and cubin (integer arguments typed i32 without divisibility
specialisation, i.e. the most general variant), then ``cuobjdump
-res-usage`` (shipped with Triton) to read each cubin's registers, stack and
local memory (register spills). Exits 1 when a configuration spills
registers or fails to compile.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile

# AOT compilation needs the real JIT, not the interpreter.
os.environ['TRITON_INTERPRET'] = '0'

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from mmreplk.ops.add_shift import triton_impl as tas
from mmreplk.ops.add_shift.backends import TRITON_DTYPES
from mmreplk.ops.depthwise_conv import triton_impl as tdc
from mmreplk.utils import ToolCheckFailed, tool_main

TRITON_TYPES = {
    dtype: {
        torch.float32: 'fp32',
        torch.float16: 'fp16',
        torch.bfloat16: 'bf16'
    }[dtype]
    for dtype in tdc.DTYPES
}

_FWD_INTS = ('C', 'H', 'W', 'OH', 'OW', 'KH', 'KW', 'PH', 'PW', 'sxn', 'sxc',
             'sxh', 'sxw', 'syn', 'syc', 'syh', 'syw')
_ADD_SHIFT_INTS = ('C_in', 'H_in', 'W_in', 'C_out', 'H_out', 'W_out', 'K')
_BWD_INTS = ('N', 'C', 'H', 'W', 'OH', 'OW', 'KH', 'KW', 'PH', 'PW', 'SPLIT',
             'sxn', 'sxc', 'sxh', 'sxw', 'sgn', 'sgc', 'sgh', 'sgw')


def kernel_sources():
    """(name, ASTSource, num_warps) for every shipped configuration."""
    for dtype, ty in TRITON_TYPES.items():
        for cfg_name, cfg in tdc.FWD_CONFIGS.items():
            meta, num_warps = tdc._split_meta(cfg)
            for has_bias in (False, True):
                sig = dict(
                    x_ptr=f'*{ty}',
                    w_ptr=f'*{ty}',
                    b_ptr=f'*{ty}',
                    y_ptr=f'*{ty}')
                sig.update({k: 'i32' for k in _FWD_INTS})
                consts = dict(
                    HAS_BIAS=has_bias,
                    ACC_DTYPE=triton.language.float32,
                    **meta)
                sig.update({k: 'constexpr' for k in consts})
                yield (f'fwd_{cfg_name}_{ty}' + ('_bias' if has_bias else ''),
                       ASTSource(tdc.dwconv_fwd_kernel, sig,
                                 consts), num_warps)
        for cfg_name, cfg in tdc.BWD_WEIGHT_CONFIGS.items():
            meta, num_warps = tdc._split_meta(cfg)
            sig = dict(x_ptr=f'*{ty}', go_ptr=f'*{ty}', gw_ptr='*fp32')
            sig.update({k: 'i32' for k in _BWD_INTS})
            consts = dict(ACC_DTYPE=triton.language.float32, **meta)
            sig.update({k: 'constexpr' for k in consts})
            yield (f'bwd_weight_{cfg_name}_{ty}',
                   ASTSource(tdc.dwconv_bwd_weight_kernel, sig,
                             consts), num_warps)
    # The shift-add gather (forward and input gradient share it).
    for dtype in TRITON_DTYPES:
        ty = TRITON_TYPES[dtype]
        sig = dict(
            x_ptr=f'*{ty}',
            src_ptr='*i32',
            dh_ptr='*i32',
            dw_ptr='*i32',
            out_ptr=f'*{ty}')
        sig.update({k: 'i32' for k in _ADD_SHIFT_INTS})
        sig['BLOCK'] = 'constexpr'
        yield (f'add_shift_{ty}',
               ASTSource(tas.add_shift_kernel, sig,
                         dict(BLOCK=tas.BLOCK)), tas.NUM_WARPS)


def cuobjdump_path():
    import triton.backends.nvidia as nv
    return osp.join(osp.dirname(nv.__file__), 'bin', 'cuobjdump')


def resource_usage(cubin):
    """Registers, stack and local (spill) memory of a compiled kernel, as
    ``cuobjdump -res-usage`` (shipped with Triton) reads them from the
    cubin that Triton produced."""
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'k.cubin')
        with open(path, 'wb') as f:
            f.write(cubin)
        proc = subprocess.run([cuobjdump_path(), '-res-usage', path],
                              capture_output=True,
                              text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    fields = dict(
        re.findall(r'(\w+):(\d+)',
                   proc.stdout.split('Function', 1)[1]))
    return dict(
        registers=int(fields['REG']),
        stack=int(fields['STACK']),
        local=int(fields['LOCAL']),
        shared=int(fields['SHARED']))


def compile_all(archs):
    results = []
    for name, src, num_warps in kernel_sources():
        for cc in archs:
            kernel = triton.compile(
                src,
                target=GPUTarget('cuda', cc, 32),
                options=dict(num_warps=num_warps))
            usage = resource_usage(kernel.asm['cubin'])
            results.append(
                dict(
                    kernel=name,
                    cc=cc,
                    num_warps=num_warps,
                    cubin_bytes=len(kernel.asm['cubin']),
                    **usage))
    return results


@tool_main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', type=int, nargs='+', default=[80, 90])
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    results = compile_all(args.arch)
    print(f'{"kernel":30s} {"sm":>3s} {"regs":>5s} {"stack":>6s} '
          f'{"local":>6s} {"cubin":>7s}')
    for r in results:
        print(f'{r["kernel"]:30s} {r["cc"]:3d} {r["registers"]:5d} '
              f'{r["stack"]:6d} {r["local"]:6d} {r["cubin_bytes"]:7d}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(triton=triton.__version__, kernels=results), f, indent=2)
    spilling = [r for r in results if r['stack'] or r['local']]
    if spilling:
        raise ToolCheckFailed(
            f'{len(spilling)} configurations spill registers.')


if __name__ == '__main__':
    sys.exit(main())
