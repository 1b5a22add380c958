#!/usr/bin/env python3
"""Encode prompts into a FLUX.1 text-conditioning file for pqlab's `flux` model adapter.

Runs the two FLUX text encoders as the reference does (../shared/reference/models.md 2.1):
  T5    google/t5-v1_1-xxl encoder; padding="max_length", truncation, max_length 512 for
        FLUX.1-dev and 256 for schnell (BFL cli.py); no attention mask passed to the encoder;
        last_hidden_state [N, max_length, 4096]
  CLIP  openai/clip-vit-large-patch14 text model; padding="max_length", max_length 77,
        truncation; pooler_output [N, 768]
and writes, with safetensors, the layout models/flux/flux_conditioning.h reads:
  txt [N, L, 4096], y [N, 768] (--dtype, default bf16 as BFL casts them), and the metadata
  "prompts" (a JSON list of the N prompts) plus the encoder paths and max_length.

The encoders are loaded from local folders you give (a Hugging Face snapshot: the model folder
with config.json + weights, and its tokenizer); nothing is downloaded (local_files_only=True).
For the FLUX.1-dev repo layout that is --t5 FLUX.1-dev/text_encoder_2 --t5-tokenizer
FLUX.1-dev/tokenizer_2 --clip FLUX.1-dev/text_encoder --clip-tokenizer FLUX.1-dev/tokenizer.

Needs: torch, transformers, sentencepiece (T5 tokenizer), safetensors.

Example:
  python scripts/make_flux_conditioning.py --t5 /models/t5-v1_1-xxl \\
      --clip /models/clip-vit-large-patch14 --prompts prompts.txt --max-length 512 \\
      --out flux_dev_prompts.safetensors
"""
import argparse
import json

import torch
from safetensors.torch import save_file
from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast


def read_prompts(path):
    with open(path, encoding="utf-8") as f:
        prompts = [line.strip() for line in f]
    return [p for p in prompts if p and not p.startswith("#")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--t5", required=True, help="local folder of the T5-v1.1-XXL encoder (google/t5-v1_1-xxl)")
    ap.add_argument("--t5-tokenizer", help="local folder of its tokenizer (default: --t5)")
    ap.add_argument("--clip", required=True, help="local folder of the CLIP-L text model (openai/clip-vit-large-patch14)")
    ap.add_argument("--clip-tokenizer", help="local folder of its tokenizer (default: --clip)")
    ap.add_argument("--prompts", required=True, help="text file, one prompt per line (blank and #-lines skipped)")
    ap.add_argument("--max-length", type=int, default=512, help="T5 tokens: 512 for FLUX.1-dev, 256 for schnell")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16", help="stored dtype of txt and y")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--out", required=True, help="output .safetensors")
    args = ap.parse_args()

    prompts = read_prompts(args.prompts)
    if not prompts:
        ap.error(f"no prompts in {args.prompts}")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    run_dtype = torch.bfloat16 if args.device != "cpu" else torch.float32  # encoders as the reference runs them

    t5_tok = T5TokenizerFast.from_pretrained(args.t5_tokenizer or args.t5, local_files_only=True)
    t5 = T5EncoderModel.from_pretrained(args.t5, torch_dtype=run_dtype, local_files_only=True).to(args.device).eval()
    clip_tok = CLIPTokenizer.from_pretrained(args.clip_tokenizer or args.clip, local_files_only=True)
    clip = CLIPTextModel.from_pretrained(args.clip, torch_dtype=run_dtype, local_files_only=True).to(args.device).eval()

    txt, y = [], []
    with torch.no_grad():
        for i in range(0, len(prompts), args.batch_size):
            batch = prompts[i:i + args.batch_size]
            ids = t5_tok(batch, padding="max_length", max_length=args.max_length, truncation=True,
                         return_length=False, return_overflowing_tokens=False, return_tensors="pt").input_ids
            txt.append(t5(input_ids=ids.to(args.device), attention_mask=None,
                          output_hidden_states=False).last_hidden_state.to("cpu", dtype))
            ids = clip_tok(batch, padding="max_length", max_length=clip_tok.model_max_length, truncation=True,
                           return_length=False, return_overflowing_tokens=False, return_tensors="pt").input_ids
            y.append(clip(input_ids=ids.to(args.device), attention_mask=None,
                          output_hidden_states=False).pooler_output.to("cpu", dtype))
    txt = torch.cat(txt).contiguous()
    y = torch.cat(y).contiguous()
    save_file({"txt": txt, "y": y}, args.out, metadata={
        "prompts": json.dumps(prompts),
        "t5": args.t5, "clip": args.clip, "max_length": str(args.max_length),
    })
    print(f"{len(prompts)} prompts: txt {list(txt.shape)} {txt.dtype}, y {list(y.shape)} {y.dtype}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
