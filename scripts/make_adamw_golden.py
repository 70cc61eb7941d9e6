"""Golden values for the optimizer and schedule tests: test/fixtures/goldens/adamw-small.json.

Run once with the reference stack (torch 2.15 / transformers 5.24, CPU):
    /tmp/venv-model/bin/python scripts/make_adamw_golden.py

- `adamw[]`: a few small tensors with HF names (decay groups split the HF way: no weight decay on biases and
  LayerNorm weights) stepped 5 times by torch.optim.AdamW (single-tensor path, as on CPU) after
  torch.nn.utils.clip_grad_norm_, with the learning rate of get_linear_schedule_with_warmup at each step,
  as the HF Trainer does it. One case clips (max_norm 1, gradients of norm 0.3 .. 8 so some steps are
  clipped and some not), one does not (max_norm 0). Per step: the gradients fed in, the lr used, the norm
  clip_grad_norm_ returned, and params / exp_avg / exp_avg_sq after the step.
- `schedules[]`: get_linear_schedule_with_warmup's lr for steps 0 .. total + 1, with the warmup resolved
  by TrainingArguments.get_warmup_steps (a fraction below 1 is ceil(total * fraction)).
Floats are f32 values written exactly (Python floats of the f32 tensors) except lrs, which are f64.
"""
import json
import math
import os
from types import SimpleNamespace

import torch
import transformers
from transformers import TrainingArguments, get_linear_schedule_with_warmup

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'goldens', 'adamw-small.json')

SHAPES = {
    'bert.encoder.layer.0.attention.self.query.weight': [6, 5],
    'bert.encoder.layer.0.attention.self.query.bias': [6],
    'bert.encoder.layer.0.attention.output.LayerNorm.weight': [5],
    'bert.encoder.layer.0.attention.output.LayerNorm.bias': [5],
    'classifier.weight': [1, 5],
    'classifier.bias': [1],
}


def decays(name):
    return not (name.endswith('.bias') or 'LayerNorm.' in name)


def adamw_case(seed, max_norm, lr, warmup, weight_decay, norms):
    g = torch.Generator().manual_seed(seed)
    params = {n: torch.nn.Parameter(torch.randn(s, generator=g) * 0.5) for n, s in SHAPES.items()}
    initial = {n: p.detach().clone() for n, p in params.items()}
    groups = [
        {'params': [p for n, p in params.items() if decays(n)], 'weight_decay': weight_decay},
        {'params': [p for n, p in params.items() if not decays(n)], 'weight_decay': 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    steps = len(norms)
    sched = get_linear_schedule_with_warmup(opt, warmup, steps)
    out = []
    for s, target in enumerate(norms):
        raw = {n: torch.randn(p.shape, generator=g) for n, p in params.items()}
        scale = target / math.sqrt(sum(float((r.double() ** 2).sum()) for r in raw.values()))
        grads = {n: (r * scale).float() for n, r in raw.items()}
        for n, p in params.items():
            p.grad = grads[n].clone()
        step_lr = opt.param_groups[0]['lr']
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm) if max_norm > 0 else None
        if norm is None:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params.values()]))
        opt.step()
        sched.step()
        out.append({
            'lr': step_lr,
            'grads': {n: t.flatten().tolist() for n, t in grads.items()},
            'norm': float(norm),
            'params': {n: p.detach().flatten().tolist() for n, p in params.items()},
            'exp_avg': {n: opt.state[p]['exp_avg'].flatten().tolist() for n, p in params.items()},
            'exp_avg_sq': {n: opt.state[p]['exp_avg_sq'].flatten().tolist() for n, p in params.items()},
        })
    return {
        'max_grad_norm': max_norm,
        'lr': lr,
        'warmup': warmup,
        'weight_decay': weight_decay,
        'betas': [0.9, 0.999],
        'eps': 1e-8,
        'shapes': SHAPES,
        'initial': {n: t.flatten().tolist() for n, t in initial.items()},
        'steps': out,
    }


def schedule_case(lr, warmup, total):
    steps = TrainingArguments.get_warmup_steps(SimpleNamespace(warmup_steps=warmup), total)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = get_linear_schedule_with_warmup(opt, steps, total)
    lrs = []
    for _ in range(total + 2):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return {'lr': lr, 'warmup': warmup, 'total': total, 'warmup_steps': steps, 'lrs': lrs}


def main():
    golden = {
        'versions': {'torch': torch.__version__, 'transformers': transformers.__version__},
        'adamw': [
            adamw_case(1, 1.0, 1e-2, 1, 0.01, [0.3, 8.0, 2.0, 0.9, 5.0]),
            adamw_case(2, 0.0, 3e-3, 0, 0.1, [0.3, 8.0, 2.0, 0.9, 5.0]),
        ],
        'schedules': [
            schedule_case(2e-5, 0.1, 95),
            schedule_case(1e-3, 3, 10),
            schedule_case(5e-5, 0, 7),
            schedule_case(1e-4, 0.5, 3),
            schedule_case(3e-4, 12, 10),
        ],
    }
    with open(OUT, 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')
    print(f'wrote {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
