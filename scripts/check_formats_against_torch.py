#!/usr/bin/env python3
"""Cross-checks pqlab's NVFP4 and FP8 E4M3 codes against an independent PyTorch implementation.

Run on a machine with PyTorch (the GPU machine has it): builds adversarial tensors (exact E2M1
ties after scaling, zero blocks, subnormal block scales, 60 decades of dynamic range, saturation),
quantizes them with `pqlab quant-tensor --codes`, and recomputes codes, block scales and values in
PyTorch following TransformerEngine's NVFP4 order of fp32 operations (methods.md 9.4):
    S_enc = 2688/amax; S_dec = 1/S_enc; sb = e4m3_rn_satfinite(bamax * (S_enc * (1/6)))
    inv = min(1/(sb*S_dec), FLT_MAX); q = e2m1_rn(x*inv); x̂ = e2m1(q)*sb*S_dec
The E4M3 cast is torch's own float8_e4m3fn conversion (after clamping to ±448, as TE does).
Writes the inputs and expected outputs to --save (a safetensors file the C++ tests replay in CI).

usage: check_formats_against_torch.py --pqlab build/pqlab [--device cuda] [--save out.safetensors]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

FLT_MAX = torch.finfo(torch.float32).max
E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def e2m1_code(v):
    """RNE to E2M1 with saturation; returns uint8 codes (bit 3 = sign). Decision table of TE's
    reference (ties 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4)."""
    a = v.abs().clamp(max=6.0)
    code = torch.zeros_like(a, dtype=torch.uint8)
    bounds = [(0.25, False), (0.75, True), (1.25, False), (1.75, True), (2.5, False), (3.5, True), (5.0, False)]
    for i, (b, strict) in enumerate(bounds):
        above = a >= b if strict else a > b
        code = torch.where(above, torch.full_like(code, i + 1), code)
    sign = (v < 0).to(torch.uint8) << 3
    return code | sign


def e2m1_value(code):
    vals = E2M1.to(code.device)[(code & 7).long()]
    return torch.where((code & 8) != 0, -vals, vals)


def e4m3_rn_satfinite(x):
    return x.clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def nvfp4_reference(x):
    """x: float32 [R, K], K % 16 == 0. Returns (packed codes uint8 [R, K/2], scale bytes [R, K/16],
    s_dec float32 [], values float32 [R, K])."""
    r, k = x.shape
    amax = x.abs().max()
    s_enc = torch.tensor(448.0 * 6.0, dtype=torch.float32, device=x.device) / amax
    s_enc = torch.clamp(s_enc, max=FLT_MAX)
    if amax.item() == 0.0 or s_enc.item() == 0.0:
        s_enc = torch.ones_like(s_enc)
    s_dec = torch.tensor(1.0, dtype=torch.float32, device=x.device) / s_enc
    xb = x.view(r, k // 16, 16)
    bamax = xb.abs().amax(-1)
    sixth = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(6.0, dtype=torch.float32)
    sb = e4m3_rn_satfinite(bamax * (s_enc * sixth.to(x.device)))
    sbf = sb.to(torch.float32)
    inv = torch.clamp(torch.tensor(1.0, device=x.device) / (sbf * s_dec), max=FLT_MAX)
    codes = e2m1_code(xb * inv.unsqueeze(-1))
    values = (e2m1_value(codes) * sbf.unsqueeze(-1)) * s_dec
    flat = codes.view(r, k)
    packed = flat[:, 0::2] | (flat[:, 1::2] << 4)  # element 2i in the low nibble
    return packed, sb.view(torch.uint8), s_dec, values.view(r, k)


def adversarial(device):
    g = torch.Generator().manual_seed(1234)
    cases = {}
    # Exact E2M1 ties: tensor amax 2688 -> S_enc = 1; a block with amax 6 -> block scale 1 -> inv 1.
    ties = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, -6.0])
    big = torch.zeros(16)
    big[3] = 2688.0
    scaled_ties = ties * 8.0  # block amax 48 -> scale 8 (exact in E4M3) -> same ties after scaling
    cases["ties"] = torch.stack([ties, big, scaled_ties, torch.zeros(16)])
    # Zero blocks, subnormal block scales and denormal inputs next to a large block.
    sub = torch.randn(4, 64, generator=g)
    sub[0, :16] = 0.0
    sub[1, :16] *= 1e-3          # block scale in E4M3's subnormal range
    sub[2, :16] = 1e-40          # fp32 subnormals
    sub[3, 16:32] = 1e4
    cases["subnormal"] = sub
    # 60 decades of dynamic range in one tensor.
    cases["dynamic_range"] = torch.logspace(-30, 30, 128).view(2, 64) * torch.sign(torch.randn(2, 64, generator=g))
    # Values that land exactly on E4M3 rounding ties for the block scale (amax*S_enc/6 = 1.0625, 464/…).
    e4 = torch.randn(3, 32, generator=g)
    e4[0, 0] = 1.0625 * 6.0
    e4[0, 16] = 2688.0
    e4[1, 0] = 1.1875 * 6.0
    e4[2, 5] = 2688.0
    cases["scale_ties"] = e4
    # Ordinary data with outlier channels.
    w = torch.randn(16, 256, generator=g)
    w[:, 7] *= 40
    cases["outliers"] = w
    return {k: v.to(torch.float32).contiguous() for k, v in cases.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pqlab", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save", default="")
    args = ap.parse_args()
    cases = adversarial("cpu")
    failures = 0
    expected = {}
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.safetensors")
        save_file(cases, src)
        for fmt, extra in (("nvfp4", []), ("fp8_e4m3", ["--group-size", "tensor"])):
            dst = os.path.join(d, fmt + ".safetensors")
            subprocess.run([args.pqlab, "quant-tensor", "--format", fmt, *extra, "--codes", "--in", src, "--out", dst],
                           check=True, stdout=subprocess.DEVNULL)
            got = load_file(dst)
            print(f"{fmt}: case            codes   scales  values")
            for name, x in cases.items():
                xd = x.to(args.device)
                if fmt == "nvfp4":
                    codes, scales, s_dec, values = (t.cpu() for t in nvfp4_reference(xd))
                    ok_c = torch.equal(got[name + ".codes"], codes)
                    ok_s = torch.equal(got[name + ".scales"].view(torch.uint8), scales)
                    expected[f"nvfp4.{name}.codes"] = codes
                    expected[f"nvfp4.{name}.scales"] = scales
                    expected[f"nvfp4.{name}.values"] = values
                else:
                    s = x.abs().max() / 448.0
                    q = e4m3_rn_satfinite(xd.cpu() / s)
                    codes, values = q.view(torch.uint8), q.to(torch.float32) * s
                    ok_c, ok_s = torch.equal(got[name + ".codes"], codes), True
                    expected[f"fp8_e4m3.{name}.codes"] = codes
                    expected[f"fp8_e4m3.{name}.values"] = values
                ok_v = torch.equal(got[name], values)
                failures += not (ok_c and ok_s and ok_v)
                print(f"  {name:16s}  {'same' if ok_c else 'DIFF':6s}  {'same' if ok_s else 'DIFF':6s}  "
                      f"{'same' if ok_v else 'DIFF'}")
    if args.save:
        save_file({**{"input." + k: v for k, v in cases.items()}, **expected}, args.save,
                  metadata={"generator": "scripts/check_formats_against_torch.py", "torch": torch.__version__})
    print("all codes, scales and values identical" if failures == 0 else f"{failures} case(s) differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
