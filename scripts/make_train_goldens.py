#!/usr/bin/env python3
"""Builds the training goldens in test/fixtures/goldens/train/ (and checks a trained checkpoint).

Run once by hand (the outputs are committed; tests and CI never run Python or install torch):

    python3 -m venv /tmp/venv-model
    /tmp/venv-model/bin/pip install torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0 safetensors==0.8.0
    # The reference loss code, beside (not over) the venv's own sentence-transformers 6.2: the issue asks
    # for sentence-transformers v5 semantics, and v6 changed LambdaLoss/RankNet (clamping, reduction) and
    # PListMLE (its position weights). allRank pins torch<=1.8, so it comes without dependencies.
    /tmp/venv-model/bin/pip install --no-deps --target /tmp/ref-site \
        sentence-transformers==5.7.0 allRank==1.4.3 lightning-ir==0.0.6
    PYTHONPATH=/tmp/ref-site /tmp/venv-model/bin/python scripts/make_train_goldens.py

What it writes (float32 throughout, CPU):
- losses.json: for 6 fixed batches of ragged lists (ties, all-zero labels, a single-document list, graded
  labels 0..3, teacher scores) and every `--loss` name (lambdaloss once per weighting scheme, listmle and
  plistmle in both list orders): the reference loss and d loss / d scores from torch autograd through the
  reference implementation itself, fed by a stub model that returns the given scores:
    bce, mse, margin-mse, ranknet, listnet, listmle, plistmle, lambdaloss: sentence-transformers 5.7.0
      cross-encoder losses (BinaryCrossEntropyLoss, MSELoss, MarginMSELoss, RankNetLoss, ListNetLoss,
      ListMLELoss, PListMLELoss, LambdaLoss with its weighting schemes);
    approx-ndcg, neural-ndcg: allRank 1.4.3 (approxNDCGLoss, neuralNDCG), batches padded with allRank's -1;
    kl, infonce: lightning-ir 0.0.6 (KLDivergence, InfoNCE), the loss code of Rank-DistiLLM.
  Where a reference cannot take ragged lists (MarginMSE needs one count of negatives, lightning-ir a
  rectangular batch), each list goes through it alone and the per-list losses are combined with the
  reduction the reference applies to a batch (pair-weighted mean, batch mean), under autograd.
- model.json + grads-<loss>.safetensors: test/fixtures/models/tiny-bert as BertForSequenceClassification
  (float32, eval mode, dropout 0) on 3 Cranfield queries with 4, 3 and 1 documents, tokenized by the HF
  tokenizer (truncation=True, max_length=48; ids in the JSON), one padded batch. Per loss: the loss, the
  logits' gradient (dScores) and every parameter's gradient under canonical names (no `bert.` prefix);
  the word embeddings only for the rows the batch touches (`...weight.rows` as F32 ids, `...weight.values`).
- adamw-curve.json: 10 AdamW steps (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 except
  biases and LayerNorm weights) with get_linear_schedule_with_warmup(warmup 2, total 10) and
  clip_grad_norm_(1.0) on the same batch with `listnet`: per step the loss before the update, the lr used
  and the gradient norm before clipping; then the logits after the last step.

Check mode (no reference packages needed): compares a checkpoint written by `gpurank train` with
`gpurank score` on it:

    /tmp/venv-model/bin/python scripts/make_train_goldens.py --check-checkpoint OUT \
        --pairs pairs.jsonl --scores scores.jsonl [--max-length N]

loads OUT with AutoModelForSequenceClassification.from_pretrained, scores each {"query","document"} line of
pairs.jsonl, and prints the max |logit difference| against the {"logit"} lines of scores.jsonl.
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import types

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "test", "fixtures")
OUT = os.path.join(FIX, "goldens", "train")
TINY = os.path.join(FIX, "models", "tiny-bert")
CRANFIELD = os.path.join(ROOT, "data", "cranfield")
MAX_LENGTH = 48

# ---------------------------------------------------------------------------------------------------
# The fixed batches for the loss goldens. Scores are spread over a few units (typical logits), with
# exact ties; labels are graded 0..3; teacher scores come with every list.
BATCHES = [
    {
        "name": "graded ragged lists",
        "lists": [
            {"scores": [1.2, -0.7, 0.3, 2.1, -1.5], "labels": [2, 0, 1, 3, 0], "teacher": [1.0, -1.0, 0.5, 2.5, -2.0]},
            {"scores": [0.4, 0.9, -0.2], "labels": [0, 1, 0], "teacher": [0.1, 1.7, -0.4]},
            {"scores": [-0.3, 0.8, 0.1, 1.9, -2.2, 0.6, 0.0], "labels": [1, 0, 0, 2, 0, 1, 0], "teacher": [0.2, 0.3, -1.0, 2.2, -2.5, 0.9, 0.0]},
        ],
    },
    {
        "name": "ties in scores and labels",
        "lists": [
            {"scores": [0.5, 0.5, 0.5, -1.0], "labels": [1, 1, 0, 0], "teacher": [0.7, 0.7, -0.3, -0.3]},
            {"scores": [2.0, 1.0, 2.0, 1.0, 0.0, 2.0], "labels": [3, 1, 3, 0, 1, 2], "teacher": [1.5, 0.5, 1.5, -0.5, 0.5, 1.0]},
        ],
    },
    {
        "name": "a list with all-zero labels",
        "lists": [
            {"scores": [0.3, -0.4, 1.1], "labels": [0, 0, 0], "teacher": [0.2, -0.1, 0.9]},
            {"scores": [1.5, -0.5, 0.2, 0.8], "labels": [1, 0, 2, 0], "teacher": [1.1, -0.6, 1.4, 0.1]},
        ],
    },
    {
        "name": "a single-document list",
        "lists": [
            {"scores": [0.7], "labels": [1], "teacher": [1.3]},
            {"scores": [-0.9, 0.4, 1.6], "labels": [0, 2, 1], "teacher": [-1.2, 1.8, 0.6]},
        ],
    },
    {
        "name": "one long list, wide scores",
        "lists": [
            {
                "scores": [4.2, -3.1, 0.05, 2.7, -0.6, 1.4, -4.4, 3.3, 0.9, -1.8, 2.2, -2.6],
                "labels": [3, 0, 1, 2, 0, 1, 0, 3, 1, 0, 2, 0],
                "teacher": [3.9, -2.8, 0.4, 2.0, -0.2, 1.1, -3.9, 3.6, 0.3, -1.5, 2.8, -2.0],
            }
        ],
    },
    {
        "name": "many short lists",
        "lists": [
            {"scores": [0.1, -0.1], "labels": [1, 0], "teacher": [0.6, -0.6]},
            {"scores": [-1.3, 0.2], "labels": [0, 1], "teacher": [-0.4, 0.8]},
            {"scores": [0.9, 0.9], "labels": [2, 1], "teacher": [1.0, 0.2]},
            {"scores": [2.4, -0.8, 0.6], "labels": [1, 0, 3], "teacher": [0.5, -1.1, 2.4]},
        ],
    },
]

# Every variant written to losses.json: (loss name, LossOptions as the TS side spells them).
VARIANTS = [
    ("bce", {}),
    ("mse", {}),
    ("margin-mse", {}),
    ("ranknet", {}),
    ("listnet", {}),
    ("listmle", {}),
    ("listmle", {"respectInputOrder": True}),
    ("plistmle", {}),
    ("plistmle", {"respectInputOrder": True}),
    ("lambdaloss", {}),
    ("lambdaloss", {"lambdaScheme": "lambdarank"}),
    ("lambdaloss", {"lambdaScheme": "ndcg1"}),
    ("lambdaloss", {"lambdaScheme": "ndcg2"}),
    ("lambdaloss", {"lambdaScheme": "none"}),
    ("lambdaloss", {"reductionLog": "natural", "sigma": 2.0, "mu": 5.0}),
    ("approx-ndcg", {}),
    ("approx-ndcg", {"alpha": 2.0}),
    ("neural-ndcg", {}),
    ("neural-ndcg", {"temperature": 0.5}),
    ("kl", {}),
    ("infonce", {}),
]

ALL_LOSSES = ["bce", "mse", "margin-mse", "ranknet", "listnet", "listmle", "plistmle", "lambdaloss",
              "approx-ndcg", "neural-ndcg", "kl", "infonce"]


def load_references():
    """Imports the reference loss code; see the module docstring for where it comes from."""
    import sentence_transformers

    if not sentence_transformers.__version__.startswith("5."):
        sys.exit(f"sentence-transformers {sentence_transformers.__version__} is imported; the goldens need 5.x "
                 "(PYTHONPATH=/tmp/ref-site, see the top of this script)")
    # allRank's losses import two modules only for a constant and a file helper; the real ones pull
    # torchvision and gcsfs, which its old pins cannot install next to torch 2.15.
    data = types.ModuleType("allrank.data.dataset_loading")
    data.PADDED_Y_VALUE = -1
    sys.modules["allrank.data.dataset_loading"] = data
    files = types.ModuleType("allrank.utils.file_utils")
    files.is_gs_path = lambda path: False
    files.copy_file_to_local = None
    sys.modules["allrank.utils.file_utils"] = files
    from allrank.models.losses import approxNDCGLoss, neuralNDCG

    record_sinkhorn_iterations(sys.modules["allrank.models.losses.neuralNDCG"])

    # lightning_ir/__init__ imports the whole framework (lightning, datasets); its loss package needs torch only.
    spec = importlib.util.find_spec("lightning_ir")
    pkg = types.ModuleType("lightning_ir")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["lightning_ir"] = pkg
    from lightning_ir.loss.listwise import InfoNCE, KLDivergence

    import allrank
    import lightning_ir.loss.listwise as lir_listwise
    from importlib.metadata import version

    versions = {
        "sentence-transformers": sentence_transformers.__version__,
        "allRank": version("allRank"),
        "lightning-ir": version("lightning-ir"),
        "torch": torch.__version__,
    }
    del allrank, lir_listwise
    return sentence_transformers, approxNDCGLoss, neuralNDCG, KLDivergence, InfoNCE, versions


SINKHORN = {"iterations": None}


def record_sinkhorn_iterations(module):
    """Wraps allRank's sinkhorn_scaling (as neuralNDCG calls it) to record how many iterations it ran: the
    smallest max_iter whose result equals the real call's, bit for bit (the loop is deterministic). The
    batch's count depends on f32 rounding near the tolerance, so the goldens carry it."""
    original = module.sinkhorn_scaling

    def wrapped(mat, mask=None, tol=1e-6, max_iter=50):
        out = original(mat, mask, tol=tol, max_iter=max_iter)
        with torch.no_grad():
            ref = out.detach()
            for k in range(1, max_iter + 1):
                if torch.equal(original(mat.detach(), mask, tol=tol, max_iter=k), ref):
                    SINKHORN["iterations"] = k
                    break
        return out

    module.sinkhorn_scaling = wrapped


def stub_cross_encoder(CrossEncoder):
    """A CrossEncoder whose 'model' returns given logits: the pair's document string is its row index."""

    class Stub(CrossEncoder):
        def __init__(self, logits):
            nn.Module.__init__(self)
            self.logits = logits

        @property
        def num_labels(self):
            return 1

        @property
        def device(self):
            return torch.device("cpu")

        def preprocess(self, pairs, prompt=None, task=None):
            return {"rows": torch.tensor([int(doc) for _, doc in pairs], dtype=torch.long)}

        def forward(self, features):
            return {"scores": self.logits[features["rows"]].unsqueeze(-1)}

    return Stub


class References:
    def __init__(self):
        st, self.approx_ndcg, self.neural_ndcg, KL, InfoNCE, self.versions = load_references()
        from sentence_transformers.cross_encoder import CrossEncoder
        from sentence_transformers.cross_encoder import losses as L

        self.L = L
        self.Stub = stub_cross_encoder(CrossEncoder)
        self.kl = KL()
        self.infonce = InfoNCE()

    def loss(self, name, opts, logits, lists):
        """The reference loss of `lists` (dicts with labels/teacher) for the flat `logits` tensor."""
        L = self.L
        model = self.Stub(logits)
        sizes = [len(l["labels"]) for l in lists]
        starts = [sum(sizes[:q]) for q in range(len(lists))]
        queries = [f"q{q}" for q in range(len(lists))]
        docs = [[str(starts[q] + i) for i in range(n)] for q, n in enumerate(sizes)]
        labels = [torch.tensor(l["labels"], dtype=torch.float32) for l in lists]
        flat_labels = torch.cat(labels)
        if name in ("bce", "mse"):
            rows = [d for ds in docs for d in ds]
            pair_inputs = [["q"] * len(rows), rows]
            if name == "bce":
                # Label handling of gpurank: graded labels count as relevant (BCE targets must lie in [0, 1]).
                return L.BinaryCrossEntropyLoss(model)(pair_inputs, flat_labels.clamp(0, 1))
            return L.MSELoss(model)(pair_inputs, flat_labels)
        if name == "margin-mse":
            # Per list: the positive is the first document with the highest label, the negatives the rest;
            # MarginMSELoss takes (anchor, positive, negative_1..k) with the teacher scores of all of them.
            total, pairs = 0, 0
            for q, l in enumerate(lists):
                n = sizes[q]
                if n < 2:
                    continue
                pos = max(range(n), key=lambda i: (l["labels"][i], -i))
                order = [pos] + [i for i in range(n) if i != pos]
                cols = [[queries[q]]] + [[docs[q][i]] for i in order]
                teacher = torch.tensor([[l["teacher"][i] for i in order]], dtype=torch.float32)
                total = total + L.MarginMSELoss(model)(cols, teacher) * (n - 1)
                pairs += n - 1
            return total / pairs
        list_inputs = [queries, docs]
        if name == "ranknet":
            return L.RankNetLoss(model, sigma=opts.get("sigma", 1.0), eps=opts.get("eps", 1e-10),
                                 reduction_log=opts.get("reductionLog", "binary"))(list_inputs, labels)
        if name == "lambdaloss":
            scheme = opts.get("lambdaScheme", "ndcg2pp")
            weighting = {
                "ndcg2pp": lambda: L.NDCGLoss2PPScheme(mu=opts.get("mu", 10.0)),
                "lambdarank": L.LambdaRankScheme,
                "ndcg1": L.NDCGLoss1Scheme,
                "ndcg2": L.NDCGLoss2Scheme,
                "none": L.NoWeightingScheme,
            }[scheme]()
            return L.LambdaLoss(model, weighting_scheme=weighting, sigma=opts.get("sigma", 1.0), eps=opts.get("eps", 1e-10),
                                reduction_log=opts.get("reductionLog", "binary"))(list_inputs, labels)
        if name == "listnet":
            return L.ListNetLoss(model)(list_inputs, labels)
        if name == "listmle":
            return L.ListMLELoss(model, respect_input_order=opts.get("respectInputOrder", False))(list_inputs, labels)
        if name == "plistmle":
            return L.PListMLELoss(model, respect_input_order=opts.get("respectInputOrder", False))(list_inputs, labels)
        if name in ("approx-ndcg", "neural-ndcg"):
            width = max(sizes)
            pred = torch.zeros(len(lists), width)
            true = torch.full((len(lists), width), -1.0)  # allRank's padding indicator
            rows = []
            for q, n in enumerate(sizes):
                true[q, :n] = labels[q]
                rows.append(torch.cat([logits[starts[q]:starts[q] + n], torch.zeros(width - n)]))
            pred = torch.stack(rows)
            if name == "approx-ndcg":
                return self.approx_ndcg(pred, true, eps=opts.get("eps", 1e-10), alpha=opts.get("alpha", 1.0))
            return self.neural_ndcg(pred, true, temperature=opts.get("temperature", 1.0))
        if name in ("kl", "infonce"):
            fn = self.kl if name == "kl" else self.infonce
            per_list = []
            for q, l in enumerate(lists):
                out = types.SimpleNamespace(scores=logits[starts[q]:starts[q] + sizes[q]].unsqueeze(0))
                target = l["teacher"] if name == "kl" else l["labels"]
                batch = types.SimpleNamespace(targets=torch.tensor([target], dtype=torch.float32))
                per_list.append(fn.compute_loss(out, batch))
            # Both reduce a batch by its number of lists ('batchmean', the mean of cross-entropy).
            return torch.stack(per_list).mean()
        raise ValueError(name)


def check_sorts_stable(lists):
    """The references sort without `stable=True`; ties in the goldens must come out in index order,
    which is what gpurank does (a stable sort)."""
    for l in lists:
        for key in ("scores", "labels"):
            v = torch.tensor([l[key]], dtype=torch.float32)
            assert torch.equal(v.sort(descending=True).indices, v.sort(descending=True, stable=True).indices), key


def loss_goldens(refs):
    cases = []
    for batch in BATCHES:
        check_sorts_stable(batch["lists"])
        for name, opts in VARIANTS:
            if name in ("infonce", "margin-mse") and any(max(l["labels"]) <= 0 for l in batch["lists"]):
                continue  # these need a positive in every list
            flat = [s for l in batch["lists"] for s in l["scores"]]
            logits = torch.tensor(flat, dtype=torch.float32, requires_grad=True)
            loss = refs.loss(name, opts, logits, batch["lists"])
            (grad,) = torch.autograd.grad(loss, logits, allow_unused=True)
            grad = torch.zeros_like(logits) if grad is None else grad
            sizes = [len(l["scores"]) for l in batch["lists"]]
            grads, at = [], 0
            for n in sizes:
                grads.append([float(g) for g in grad[at:at + n]])
                at += n
            case = {"batch": batch["name"], "loss": name, "options": opts, "value": float(loss.detach()), "grads": grads}
            if name == "neural-ndcg":
                case["sinkhorn_iterations"] = SINKHORN["iterations"]
            cases.append(case)
    return {
        "versions": refs.versions,
        "batches": BATCHES,
        "cases": cases,
    }


# ---------------------------------------------------------------------------------------------------
# Whole-model goldens.

# (query id, document ids) from data/cranfield: judged documents and BM25 hits. Labels are graded 0..3:
# the qrels score (1..4) minus 1, and 0 for an unjudged document.
MODEL_QUERIES = [
    ("1", ["184", "29", "51", "486"]),
    ("2", ["12", "746", "1169"]),
    ("4", ["166"]),
]
TEACHER = [[2.3, 1.1, -0.8, 0.4], [1.7, -0.2, -1.4], [0.9]]


def cranfield_batch():
    def read_jsonl(path):
        with open(path) as f:
            return {row["_id"]: row for row in map(json.loads, f)}

    queries = read_jsonl(os.path.join(CRANFIELD, "queries.jsonl"))
    corpus = read_jsonl(os.path.join(CRANFIELD, "corpus.jsonl"))
    qrels = {}
    with open(os.path.join(CRANFIELD, "qrels.tsv")) as f:
        next(f)
        for line in f:
            q, d, s = line.split()
            qrels[(q, d)] = int(s)
    lists = []
    for (qid, dids), teacher in zip(MODEL_QUERIES, TEACHER):
        labels = [qrels[(qid, d)] - 1 if (qid, d) in qrels else 0 for d in dids]
        lists.append({"qid": qid, "query": queries[qid]["text"], "doc_ids": dids,
                      "documents": [corpus[d]["text"] for d in dids], "labels": labels, "teacher_scores": teacher})
    return lists


def load_tiny():
    from transformers import AutoTokenizer, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(TINY)
    model = BertForSequenceClassification.from_pretrained(TINY, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return tok, model


def encode(tok, lists):
    queries = [l["query"] for l in lists for _ in l["documents"]]
    docs = [d for l in lists for d in l["documents"]]
    enc = tok(queries, docs, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
    ids, types_, lengths = [], [], []
    for r in range(len(docs)):
        n = int(enc["attention_mask"][r].sum())
        ids.append(enc["input_ids"][r, :n].tolist())
        types_.append(enc["token_type_ids"][r, :n].tolist())
        lengths.append(n)
    return enc, ids, types_


def canonical(name):
    return name[len("bert."):] if name.startswith("bert.") else name


def model_goldens(refs, lists):
    from safetensors.torch import save_file

    tok, model = load_tiny()
    enc, ids, type_ids = encode(tok, lists)
    touched = sorted({i for row in ids for i in row})
    loss_lists = [{"labels": l["labels"], "teacher": l["teacher_scores"]} for l in lists]
    index = {"model": "test/fixtures/models/tiny-bert", "max_length": MAX_LENGTH, "lists": [], "losses": {}}
    at = 0
    for l in lists:
        n = len(l["documents"])
        index["lists"].append({**l, "input_ids": ids[at:at + n], "token_type_ids": type_ids[at:at + n]})
        at += n
    for name in ALL_LOSSES:
        model.zero_grad(set_to_none=True)
        logits = model(**enc).logits.view(-1)
        logits.retain_grad()
        loss = refs.loss(name, {}, logits, loss_lists)
        loss.backward()
        tensors = {}
        for pname, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            cname = canonical(pname)
            if cname == "embeddings.word_embeddings.weight":
                mask = torch.ones(g.shape[0], dtype=torch.bool)
                mask[touched] = False
                assert not g[mask].any(), "a word-embedding row outside the batch got a gradient"
                tensors[cname + ".rows"] = torch.tensor(touched, dtype=torch.float32)
                tensors[cname + ".values"] = g[touched].contiguous()
            else:
                tensors[cname] = g.detach().contiguous()
        save_file(tensors, os.path.join(OUT, f"grads-{name}.safetensors"))
        index["logits"] = [float(x) for x in logits.detach()]
        index["losses"][name] = {"loss": float(loss.detach()), "dScores": [float(x) for x in logits.grad],
                                 "file": f"grads-{name}.safetensors"}
        if name == "neural-ndcg":
            index["losses"][name]["sinkhorn_iterations"] = SINKHORN["iterations"]
    return index, tok, model, enc


def adamw_curve(refs, lists, enc):
    from transformers import get_linear_schedule_with_warmup

    _, model = load_tiny()
    loss_lists = [{"labels": l["labels"], "teacher": l["teacher_scores"]} for l in lists]
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "LayerNorm." in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "LayerNorm." in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=10)
    steps = []
    for step in range(10):
        opt.zero_grad(set_to_none=True)
        loss = refs.loss("listnet", {}, model(**enc).logits.view(-1), loss_lists)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        steps.append({"step": step + 1, "loss": float(loss.detach()), "lr": lr, "grad_norm": float(norm)})
    with torch.no_grad():
        final = model(**enc).logits.view(-1)
    return {
        "loss": "listnet",
        "optimizer": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01,
                      "no_decay": "names ending in .bias or containing LayerNorm.", "max_grad_norm": 1.0},
        "schedule": {"kind": "linear", "warmup": 2, "total": 10},
        "steps": steps,
        "final_logits": [float(x) for x in final],
    }


def write_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------------------------------
def check_checkpoint(args):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.check_checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(args.check_checkpoint, dtype=torch.float32)
    model.eval()
    max_length = args.max_length or min(model.config.max_position_embeddings, tok.model_max_length, 512)
    with open(args.pairs) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    with open(args.scores) as f:
        ours = [json.loads(line)["logit"] for line in f if line.strip()]
    if len(pairs) != len(ours):
        sys.exit(f"{len(pairs)} pairs but {len(ours)} score lines")
    worst = 0.0
    with torch.no_grad():
        for start in range(0, len(pairs), 32):
            chunk = pairs[start:start + 32]
            enc = tok([p["query"] for p in chunk], [p["document"] for p in chunk], truncation=True,
                      max_length=max_length, padding=True, return_tensors="pt")
            logits = model(**enc).logits[:, 0]
            for i, x in enumerate(logits):
                worst = max(worst, abs(float(x) - ours[start + i]))
    print(json.dumps({"checkpoint": args.check_checkpoint, "pairs": len(pairs), "max_length": max_length,
                      "max_abs_logit_diff": worst}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check-checkpoint", metavar="DIR")
    ap.add_argument("--pairs", metavar="FILE")
    ap.add_argument("--scores", metavar="FILE")
    ap.add_argument("--max-length", type=int)
    args = ap.parse_args()
    if args.check_checkpoint:
        if not (args.pairs and args.scores):
            ap.error("--check-checkpoint needs --pairs and --scores")
        check_checkpoint(args)
        return
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    refs = References()
    write_json("losses.json", loss_goldens(refs))
    lists = cranfield_batch()
    index, _, _, enc = model_goldens(refs, lists)
    index["versions"] = refs.versions
    import transformers

    index["versions"]["transformers"] = transformers.__version__
    write_json("model.json", index)
    write_json("adamw-curve.json", adamw_curve(refs, lists, enc))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
