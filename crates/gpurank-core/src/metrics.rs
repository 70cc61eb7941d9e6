//! IR evaluation measures with trec_eval's semantics (NIST trec_eval 9.x): the same
//! ranking rule, the same relevance conventions, the same averaging and the same
//! printed names and number formats, so that results can be compared line by line
//! with trec_eval's own output.
//!
//! Conventions (all from trec_eval):
//! - A run is ranked by score, highest first; ties go to the docno that is larger in
//!   byte order (strcmp). The rank column of a run file is ignored.
//! - A judgement `rel >= relevance_level` (default 1) is relevant. Negative
//!   judgements mean "in the pool but unjudged"; retrieved docs absent from the
//!   qrels are "not in the pool". Both count as non-relevant except where a measure
//!   (bpref, infAP, unj, rbp_resid, relstring) says otherwise.
//! - Gains (ndcg family, G, rbp) are the raw grades; nDCG discounts by log2(rank + 1).
//! - Only queries that have judgements are evaluated. Averages are over the queries
//!   present in both qrels and run; with `complete` (trec_eval -c) every judged query
//!   counts and a query missing from the run scores zero.
//! - A docno listed twice for one query (in a run or in qrels) is an error.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value as Json};
use wasm_bindgen::prelude::*;

/// trec_eval's floor for geometric means (`MIN_GEO_MEAN`).
const MIN_GEO_MEAN: f64 = 0.00001;
/// trec_eval's smoothing constant in infAP (`INFAP_EPSILON`).
const INFAP_EPSILON: f64 = 0.00001;
/// Relevance value of a retrieved doc that is not in the qrels at all.
const REL_NONPOOL: i64 = -1;
/// Relevance value of a retrieved doc judged with a negative value (pooled, unjudged).
const REL_UNJUDGED: i64 = -2;
/// Persistence of rank-biased precision (trec_eval's default p).
const RBP_P: f64 = 0.9;

const DEFAULT_DOC_CUTOFFS: [usize; 9] = [5, 10, 15, 20, 30, 100, 200, 500, 1000];
const DEFAULT_RECALL_POINTS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const DEFAULT_RPREC_MULTS: [f64; 10] = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0];

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsError {
    UnknownMeasure(String),
    BadMeasureParameter { measure: String, reason: String },
    DuplicateRunDoc { qid: String, docno: String },
    DuplicateQrel { qid: String, docno: String },
    NonFiniteScore { qid: String, docno: String },
    EmptyRun,
    NoQueriesEvaluated,
    BadOption(String),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::UnknownMeasure(m) => write!(f, "unknown measure '{m}'"),
            MetricsError::BadMeasureParameter { measure, reason } => {
                write!(f, "bad parameter in measure '{measure}': {reason}")
            }
            MetricsError::DuplicateRunDoc { qid, docno } => {
                write!(f, "run lists document '{docno}' twice for query '{qid}'")
            }
            MetricsError::DuplicateQrel { qid, docno } => {
                write!(f, "qrels judge document '{docno}' twice for query '{qid}'")
            }
            MetricsError::NonFiniteScore { qid, docno } => {
                write!(f, "score of document '{docno}' for query '{qid}' is not a finite number")
            }
            MetricsError::EmptyRun => write!(f, "the run is empty"),
            MetricsError::NoQueriesEvaluated => {
                write!(f, "no query has both results and relevance judgements")
            }
            MetricsError::BadOption(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for MetricsError {}

/// Relevance judgements, per query and docno.
#[derive(Debug, Default, Clone)]
pub struct Qrels {
    by_query: BTreeMap<String, HashMap<String, i64>>,
}

impl Qrels {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, qid: &str, docno: &str, rel: i64) -> Result<(), MetricsError> {
        let docs = self.by_query.entry(qid.to_string()).or_default();
        if docs.insert(docno.to_string(), rel).is_some() {
            return Err(MetricsError::DuplicateQrel { qid: qid.into(), docno: docno.into() });
        }
        Ok(())
    }
}

/// A retrieval run: scored documents per query, plus the run tag trec_eval reports.
#[derive(Debug, Default, Clone)]
pub struct Run {
    by_query: HashMap<String, Vec<(String, f64)>>,
    seen: HashMap<String, std::collections::HashSet<String>>,
    pub run_id: String,
}

impl Run {
    pub fn new(run_id: &str) -> Self {
        Run { run_id: run_id.to_string(), ..Self::default() }
    }

    pub fn insert(&mut self, qid: &str, docno: &str, score: f64) -> Result<(), MetricsError> {
        if !score.is_finite() {
            return Err(MetricsError::NonFiniteScore { qid: qid.into(), docno: docno.into() });
        }
        if !self.seen.entry(qid.to_string()).or_default().insert(docno.to_string()) {
            return Err(MetricsError::DuplicateRunDoc { qid: qid.into(), docno: docno.into() });
        }
        self.by_query.entry(qid.to_string()).or_default().push((docno.to_string(), score));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.by_query.is_empty()
    }
}

/// Measure families, declared in the order trec_eval prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Family {
    Runid,
    NumQ,
    NumRet,
    NumRel,
    NumRelRet,
    Map,
    GmMap,
    Rprec,
    Bpref,
    RecipRank,
    IprecAtRecall,
    P,
    Relstring,
    Recall,
    InfAp,
    GmBpref,
    RprecMult,
    Utility,
    Pt11Avg,
    BinG,
    G,
    Ndcg,
    NdcgRel,
    Rndcg,
    NdcgCut,
    MapCut,
    RelativeP,
    Success,
    SetP,
    SetRelativeP,
    SetRecall,
    SetMap,
    SetF,
    NumNonrelJudgedRet,
    Rbp,
    RbpResid,
    Unj,
}

/// How a family takes parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ParamKind {
    None,
    DocCutoffs(&'static [usize]),
    Fractions(&'static [f64]),
}

const FAMILIES: &[(&str, Family, ParamKind)] = &[
    ("runid", Family::Runid, ParamKind::None),
    ("num_q", Family::NumQ, ParamKind::None),
    ("num_ret", Family::NumRet, ParamKind::None),
    ("num_rel", Family::NumRel, ParamKind::None),
    ("num_rel_ret", Family::NumRelRet, ParamKind::None),
    ("map", Family::Map, ParamKind::None),
    ("gm_map", Family::GmMap, ParamKind::None),
    ("Rprec", Family::Rprec, ParamKind::None),
    ("bpref", Family::Bpref, ParamKind::None),
    ("recip_rank", Family::RecipRank, ParamKind::None),
    ("iprec_at_recall", Family::IprecAtRecall, ParamKind::Fractions(&DEFAULT_RECALL_POINTS)),
    ("P", Family::P, ParamKind::DocCutoffs(&DEFAULT_DOC_CUTOFFS)),
    ("relstring", Family::Relstring, ParamKind::None),
    ("recall", Family::Recall, ParamKind::DocCutoffs(&DEFAULT_DOC_CUTOFFS)),
    ("infAP", Family::InfAp, ParamKind::None),
    ("gm_bpref", Family::GmBpref, ParamKind::None),
    ("Rprec_mult", Family::RprecMult, ParamKind::Fractions(&DEFAULT_RPREC_MULTS)),
    ("utility", Family::Utility, ParamKind::None),
    ("11pt_avg", Family::Pt11Avg, ParamKind::None),
    ("binG", Family::BinG, ParamKind::None),
    ("G", Family::G, ParamKind::None),
    ("ndcg", Family::Ndcg, ParamKind::None),
    ("ndcg_rel", Family::NdcgRel, ParamKind::None),
    ("Rndcg", Family::Rndcg, ParamKind::None),
    ("ndcg_cut", Family::NdcgCut, ParamKind::DocCutoffs(&DEFAULT_DOC_CUTOFFS)),
    ("map_cut", Family::MapCut, ParamKind::DocCutoffs(&DEFAULT_DOC_CUTOFFS)),
    ("relative_P", Family::RelativeP, ParamKind::DocCutoffs(&DEFAULT_DOC_CUTOFFS)),
    ("success", Family::Success, ParamKind::DocCutoffs(&[1, 5, 10])),
    ("set_P", Family::SetP, ParamKind::None),
    ("set_relative_P", Family::SetRelativeP, ParamKind::None),
    ("set_recall", Family::SetRecall, ParamKind::None),
    ("set_map", Family::SetMap, ParamKind::None),
    ("set_F", Family::SetF, ParamKind::None),
    ("num_nonrel_judged_ret", Family::NumNonrelJudgedRet, ParamKind::None),
    ("rbp", Family::Rbp, ParamKind::None),
    ("rbp_resid", Family::RbpResid, ParamKind::None),
    ("unj", Family::Unj, ParamKind::DocCutoffs(&[5, 10, 20])),
];

/// trec_eval's nicknames for measure groups (`-m official`, `-m all_trec`, `-m set`).
const NICKNAMES: &[(&str, &[&str])] = &[
    (
        "official",
        &[
            "runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref",
            "recip_rank", "iprec_at_recall", "P",
        ],
    ),
    (
        "all_trec",
        &[
            "runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref",
            "recip_rank", "iprec_at_recall", "P", "relstring", "recall", "infAP", "gm_bpref", "Rprec_mult",
            "utility", "11pt_avg", "binG", "G", "ndcg", "ndcg_rel", "Rndcg", "ndcg_cut", "map_cut",
            "relative_P", "success", "set_P", "set_relative_P", "set_recall", "set_map", "set_F",
            "num_nonrel_judged_ret", "rbp", "rbp_resid", "unj",
        ],
    ),
    (
        "set",
        &["runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "utility", "set_P", "set_recall", "set_relative_P", "set_map", "set_F"],
    ),
];

#[derive(Debug, Clone, PartialEq)]
enum Params {
    None,
    Cutoffs(Vec<usize>),
    Fractions(Vec<f64>),
}

/// A validated selection of measures, kept in trec_eval's print order.
#[derive(Debug, Clone, Default)]
pub struct MeasureSet {
    entries: BTreeMap<Family, Params>,
}

impl MeasureSet {
    /// Parses trec_eval-style names: a family (`ndcg_cut`, its default cutoffs), a
    /// family with one parameter (`ndcg_cut_10`, `iprec_at_recall_0.50`), trec_eval's
    /// `-m` syntax (`P.5,10`), or a nickname (`official`, `all_trec`, `set`).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, MetricsError> {
        let mut set = MeasureSet::default();
        for name in names {
            set.add(name.as_ref().trim())?;
        }
        Ok(set)
    }

    fn add(&mut self, name: &str) -> Result<(), MetricsError> {
        if let Some((_, members)) = NICKNAMES.iter().find(|(n, _)| *n == name) {
            for m in members.iter() {
                self.add(m)?;
            }
            return Ok(());
        }
        if let Some((family, kind)) = lookup(name) {
            self.merge(family, default_params(kind));
            return Ok(());
        }
        if let Some((base, list)) = name.split_once('.') {
            if let Some((family, kind)) = lookup(base) {
                let params: Vec<&str> = list.split(',').collect();
                self.merge(family, parse_params(name, kind, &params)?);
                return Ok(());
            }
        }
        // `family_param`: the longest family name that is a prefix wins (relative_P_5 vs P_5).
        let mut best: Option<(&str, Family, ParamKind)> = None;
        for &(fname, family, kind) in FAMILIES {
            if kind == ParamKind::None {
                continue;
            }
            let prefixed = name.len() > fname.len() + 1 && name.starts_with(fname) && name.as_bytes()[fname.len()] == b'_';
            if prefixed && best.is_none_or(|(b, _, _)| fname.len() > b.len()) {
                best = Some((fname, family, kind));
            }
        }
        let (fname, family, kind) = best.ok_or_else(|| MetricsError::UnknownMeasure(name.into()))?;
        let params = parse_params(name, kind, &[&name[fname.len() + 1..]])?;
        self.merge(family, params);
        Ok(())
    }

    fn merge(&mut self, family: Family, params: Params) {
        match (self.entries.get_mut(&family), params) {
            (None, p) => {
                self.entries.insert(family, p);
            }
            (Some(Params::Cutoffs(have)), Params::Cutoffs(new)) => {
                for c in new {
                    if !have.contains(&c) {
                        have.push(c);
                    }
                }
            }
            (Some(Params::Fractions(have)), Params::Fractions(new)) => {
                for c in new {
                    if !have.contains(&c) {
                        have.push(c);
                    }
                }
            }
            _ => {}
        }
    }

    /// The printed measure names, in order (per-query and summary-only ones alike).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (family, params) in &self.entries {
            let base = family_name(*family);
            match params {
                Params::None => out.push(base.to_string()),
                Params::Cutoffs(cs) => out.extend(cs.iter().map(|c| format!("{base}_{c}"))),
                Params::Fractions(fs) => out.extend(fs.iter().map(|f| format!("{base}_{f:.2}"))),
            }
        }
        out
    }
}

fn lookup(name: &str) -> Option<(Family, ParamKind)> {
    FAMILIES.iter().find(|(n, _, _)| *n == name).map(|&(_, f, k)| (f, k))
}

fn family_name(family: Family) -> &'static str {
    FAMILIES.iter().find(|(_, f, _)| *f == family).map(|(n, _, _)| *n).unwrap_or("?")
}

fn default_params(kind: ParamKind) -> Params {
    match kind {
        ParamKind::None => Params::None,
        ParamKind::DocCutoffs(d) => Params::Cutoffs(d.to_vec()),
        ParamKind::Fractions(d) => Params::Fractions(d.to_vec()),
    }
}

fn parse_params(measure: &str, kind: ParamKind, raw: &[&str]) -> Result<Params, MetricsError> {
    let bad = |reason: String| MetricsError::BadMeasureParameter { measure: measure.into(), reason };
    match kind {
        ParamKind::None => Err(bad("this measure takes no parameters".into())),
        ParamKind::DocCutoffs(_) => {
            let mut out = Vec::new();
            for r in raw {
                let c: usize = r.trim().parse().map_err(|_| bad(format!("'{r}' is not a positive integer")))?;
                if c == 0 {
                    return Err(bad("cutoffs must be positive".into()));
                }
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            Ok(Params::Cutoffs(out))
        }
        ParamKind::Fractions(_) => {
            let mut out = Vec::new();
            for r in raw {
                let v: f64 = r.trim().parse().map_err(|_| bad(format!("'{r}' is not a number")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(format!("'{r}' must be a non-negative number")));
                }
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Params::Fractions(out))
        }
    }
}

/// Evaluation switches, mirroring trec_eval's command-line options.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// `-c`: average over every judged query; queries missing from the run score zero.
    pub complete: bool,
    /// `-l`: the smallest judgement that counts as relevant.
    pub relevance_level: i64,
    /// `-M`: evaluate only the top N documents of each ranking.
    pub max_docs_per_query: Option<usize>,
    /// Cuts `recip_rank` alone at this rank (MRR@k), leaving the other measures whole.
    pub recip_rank_cutoff: Option<usize>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { complete: false, relevance_level: 1, max_docs_per_query: None, recip_rank_cutoff: None }
    }
}

/// One measure's value, typed as trec_eval prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    /// trec_eval's printed form: `%ld`, `%6.4f`, or a quoted/plain string.
    pub fn trec_text(&self, name: &str) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            // Rust rounds exact ties to even, as C's printf does.
            Value::Float(v) => format!("{v:6.4}"),
            Value::Text(s) if name == "relstring" => format!("'{s}'"),
            Value::Text(s) => s.clone(),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Value::Int(v) => json!(v),
            Value::Float(v) => json!(v),
            Value::Text(s) => json!(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Per-query values, queries in trec_eval's order (qid byte order).
    pub per_query: Vec<(String, Vec<(String, Value)>)>,
    /// Summary values over all evaluated queries.
    pub all: Vec<(String, Value)>,
}

impl Evaluation {
    /// trec_eval's relational output: `name<pad to 22>\tqid\tvalue` lines.
    pub fn to_trec_table(&self, per_query: bool) -> String {
        let mut out = String::new();
        let mut line = |name: &str, qid: &str, v: &Value| {
            out.push_str(&format!("{name:<22}\t{qid}\t{}\n", v.trec_text(name)));
        };
        if per_query {
            for (qid, values) in &self.per_query {
                for (name, v) in values {
                    line(name, qid, v);
                }
            }
        }
        for (name, v) in &self.all {
            line(name, "all", v);
        }
        out
    }
}

/// A query's retrieved documents as relevance values in rank order, plus the
/// judgement counts the measures need (trec_eval's RES_RELS).
struct Judged {
    rels: Vec<i64>,
    /// Judged documents per non-negative grade.
    levels: Vec<usize>,
    num_rel: usize,
    num_rel_ret: usize,
    num_nonpool: usize,
    num_unjudged: usize,
    level: i64,
}

impl Judged {
    fn new(judgements: &HashMap<String, i64>, ranking: &[(String, f64)], opts: &EvalOptions) -> Self {
        let mut order: Vec<&(String, f64)> = ranking.iter().collect();
        // trec_eval's qsort comparator: score descending, then docno descending (strcmp).
        order.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| b.0.cmp(&a.0)));
        if let Some(m) = opts.max_docs_per_query {
            order.truncate(m);
        }
        let mut levels = vec![0usize; 1];
        for &rel in judgements.values() {
            if rel >= 0 {
                let r = rel as usize;
                if levels.len() <= r {
                    levels.resize(r + 1, 0);
                }
                levels[r] += 1;
            }
        }
        while levels.len() > 1 && *levels.last().unwrap() == 0 {
            levels.pop();
        }
        let level = opts.relevance_level;
        let num_rel = levels.iter().enumerate().filter(|(g, _)| *g as i64 >= level).map(|(_, n)| n).sum();
        let (mut num_rel_ret, mut num_nonpool, mut num_unjudged) = (0, 0, 0);
        let rels: Vec<i64> = order
            .iter()
            .map(|(docno, _)| match judgements.get(docno) {
                None => {
                    num_nonpool += 1;
                    REL_NONPOOL
                }
                Some(&r) if r < 0 => {
                    num_unjudged += 1;
                    REL_UNJUDGED
                }
                Some(&r) => {
                    if r >= level {
                        num_rel_ret += 1;
                    }
                    r
                }
            })
            .collect();
        Judged { rels, levels, num_rel, num_rel_ret, num_nonpool, num_unjudged, level }
    }

    fn num_ret(&self) -> usize {
        self.rels.len()
    }

    fn is_rel(&self, r: i64) -> bool {
        r >= self.level
    }

    /// Relevant documents among the first `k` retrieved.
    fn rel_in_top(&self, k: usize) -> usize {
        self.rels.iter().take(k).filter(|&&r| self.is_rel(r)).count()
    }

    /// Gain of a retrieved doc: its grade; unjudged and unpooled docs gain nothing.
    fn gain(r: i64) -> f64 {
        if r > 0 { r as f64 } else { 0.0 }
    }

    /// The ideal ranking's positive gains, best first.
    fn ideal_gains(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for g in (1..self.levels.len()).rev() {
            out.extend(std::iter::repeat_n(g as f64, self.levels[g]));
        }
        out
    }

    fn average_precision(&self, cutoff: usize) -> f64 {
        if self.num_rel == 0 {
            return 0.0;
        }
        let mut found = 0usize;
        let mut sum = 0.0;
        for (i, &r) in self.rels.iter().take(cutoff).enumerate() {
            if self.is_rel(r) {
                found += 1;
                sum += found as f64 / (i + 1) as f64;
            }
        }
        sum / self.num_rel as f64
    }

    fn rprec(&self) -> f64 {
        let n = self.num_ret().min(self.num_rel);
        if n == 0 { 0.0 } else { self.rel_in_top(n) as f64 / self.num_rel as f64 }
    }

    fn bpref(&self) -> f64 {
        let num_nonrel: usize = self.levels.iter().enumerate().filter(|(g, _)| (*g as i64) < self.level).map(|(_, n)| n).sum();
        let mut nonrel_so_far = 0usize;
        let mut sum = 0.0;
        for &r in &self.rels {
            if r < 0 {
                continue;
            }
            if r < self.level {
                nonrel_so_far += 1;
            } else if nonrel_so_far > 0 {
                sum += 1.0 - nonrel_so_far.min(self.num_rel) as f64 / num_nonrel.min(self.num_rel) as f64;
            } else {
                sum += 1.0;
            }
        }
        if self.num_rel > 0 { sum / self.num_rel as f64 } else { sum }
    }

    fn recip_rank(&self, cutoff: Option<usize>) -> f64 {
        let limit = cutoff.unwrap_or(usize::MAX);
        match self.rels.iter().take(limit).position(|&r| self.is_rel(r)) {
            Some(i) => 1.0 / (i + 1) as f64,
            None => 0.0,
        }
    }

    /// Interpolated precision at each recall fraction (trec_eval rounds the number of
    /// relevant docs each fraction stands for; precision is the best at or below it).
    fn iprec_at_recall(&self, fractions: &[f64]) -> Vec<f64> {
        let cutoffs: Vec<usize> = fractions.iter().map(|f| (f * self.num_rel as f64).round() as usize).collect();
        let mut out = vec![0.0; fractions.len()];
        if self.num_ret() == 0 {
            return out;
        }
        let mut int_precis = self.num_rel_ret as f64 / self.num_ret() as f64;
        let mut rel_so_far = self.num_rel_ret;
        let mut done = vec![false; fractions.len()];
        for i in (1..=self.num_ret()).rev() {
            if rel_so_far == 0 {
                break;
            }
            int_precis = int_precis.max(rel_so_far as f64 / i as f64);
            if self.is_rel(self.rels[i - 1]) {
                for (j, &c) in cutoffs.iter().enumerate() {
                    if !done[j] && c == rel_so_far {
                        out[j] = int_precis;
                        done[j] = true;
                    }
                }
                rel_so_far -= 1;
            }
        }
        // Fractions no retrieved doc reaches (or that need zero docs) take the running max
        // only if they are within what was retrieved; the rest stay 0.
        for (j, &c) in cutoffs.iter().enumerate() {
            if !done[j] && c <= self.num_rel_ret {
                out[j] = int_precis;
            }
        }
        out
    }

    fn infap(&self) -> f64 {
        let (mut nonrel, mut rel, mut unjudged) = (0usize, 0usize, 0usize);
        let mut sum = 0.0;
        for (j, &r) in self.rels.iter().enumerate() {
            if r == REL_NONPOOL {
                continue;
            }
            if r == REL_UNJUDGED {
                unjudged += 1;
                continue;
            }
            if r < self.level {
                nonrel += 1;
                continue;
            }
            rel += 1;
            if j == 0 {
                sum += 1.0;
            } else {
                let fj = j as f64;
                let above = (rel - 1 + nonrel + unjudged) as f64;
                sum += 1.0 / (fj + 1.0)
                    + (fj / (fj + 1.0)) * (above / fj) * ((rel - 1) as f64 + INFAP_EPSILON)
                        / ((rel - 1 + nonrel) as f64 + 2.0 * INFAP_EPSILON);
            }
        }
        if self.num_rel > 0 { sum / self.num_rel as f64 } else { sum }
    }

    /// Precision at multiples of R; each multiple becomes a doc count as trec_eval
    /// computes it, `(long)(mult * R + 0.9)`.
    fn rprec_mult(&self, mults: &[f64]) -> Vec<f64> {
        mults
            .iter()
            .map(|m| {
                let c = (m * self.num_rel as f64 + 0.9) as usize;
                if c == 0 {
                    0.0
                } else if c > self.num_ret() {
                    self.num_rel_ret as f64 / c as f64
                } else {
                    self.rel_in_top(c) as f64 / c as f64
                }
            })
            .collect()
    }

    fn utility(&self) -> f64 {
        // trec_eval's default coefficients: +1 per relevant retrieved, -1 per other retrieved.
        self.num_rel_ret as f64 - (self.num_ret() - self.num_rel_ret) as f64
    }

    fn pt11_avg(&self) -> f64 {
        let v = self.iprec_at_recall(&DEFAULT_RECALL_POINTS);
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn bin_g(&self) -> f64 {
        let mut rel_so_far = 0usize;
        let mut sum = 0.0;
        for (i, &r) in self.rels.iter().enumerate() {
            if self.is_rel(r) {
                rel_so_far += 1;
                sum += 1.0 / ((3 + i - rel_so_far) as f64).log2();
            }
        }
        if rel_so_far > 0 { sum / self.num_rel as f64 } else { 0.0 }
    }

    fn g(&self) -> f64 {
        let ideal = self.ideal_gains();
        let ideal_at = |i: usize| ideal.get(i).copied().unwrap_or(0.0);
        let min_cost = 1.0;
        let (mut results_g, mut sum_results, mut sum_cost) = (0.0, 0.0, 0.0);
        for (i, &r) in self.rels.iter().enumerate() {
            let gain = Self::gain(r);
            sum_results += gain;
            let ig = ideal_at(i);
            sum_cost += if ig >= min_cost { ig } else { min_cost };
            if gain != 0.0 {
                results_g += gain / (2.0 + sum_cost - sum_results).log2();
            }
        }
        let sum_ideal = ideal.iter().fold(0.0, |a, b| a + b);
        if sum_ideal > 0.0 { results_g / sum_ideal } else { 0.0 }
    }

    fn dcg(&self, cutoff: usize) -> f64 {
        self.rels
            .iter()
            .take(cutoff)
            .enumerate()
            .map(|(i, &r)| {
                let g = Self::gain(r);
                if g != 0.0 { g / ((i + 2) as f64).log2() } else { 0.0 }
            })
            // fold from +0.0: an empty f64 `sum()` is -0.0, which would print as "-0.0000".
            .fold(0.0, |a, b| a + b)
    }

    fn ideal_dcg(ideal: &[f64], cutoff: usize) -> f64 {
        ideal.iter().take(cutoff).enumerate().map(|(i, g)| g / ((i + 2) as f64).log2()).fold(0.0, |a, b| a + b)
    }

    fn ndcg(&self, cutoff: usize) -> f64 {
        let idcg = Self::ideal_dcg(&self.ideal_gains(), cutoff);
        if idcg > 0.0 { self.dcg(cutoff) / idcg } else { 0.0 }
    }

    /// nDCG averaged over the relevant (positive-gain) docs; unretrieved ones take the
    /// nDCG at the end of the ranking.
    fn ndcg_rel(&self) -> f64 {
        let ideal = self.ideal_gains();
        let ideal_at = |i: usize| ideal.get(i).copied().unwrap_or(0.0);
        let (mut rdcg, mut idcg, mut sum) = (0.0, 0.0, 0.0);
        let (mut num_rel, mut num_rel_ret) = (0usize, 0usize);
        let mut ideal_gain = ideal_at(0);
        let mut i = 0;
        while i < self.num_ret() && ideal_gain > 0.0 {
            let g = Self::gain(self.rels[i]);
            if g != 0.0 {
                rdcg += g / ((i + 2) as f64).log2();
            }
            ideal_gain = ideal_at(i);
            if ideal_gain > 0.0 {
                num_rel += 1;
                idcg += ideal_gain / ((i + 2) as f64).log2();
            }
            if g > 0.0 {
                sum += rdcg / idcg;
                num_rel_ret += 1;
            }
            i += 1;
        }
        while i < self.num_ret() {
            let g = Self::gain(self.rels[i]);
            if g != 0.0 {
                rdcg += g / ((i + 2) as f64).log2();
            }
            if g > 0.0 {
                sum += rdcg / idcg;
                num_rel_ret += 1;
            }
            i += 1;
        }
        while ideal_gain > 0.0 {
            ideal_gain = ideal_at(i);
            if ideal_gain > 0.0 {
                num_rel += 1;
                idcg += ideal_gain / ((i + 2) as f64).log2();
            }
            i += 1;
        }
        if idcg > 0.0 {
            sum += (num_rel as f64 - num_rel_ret as f64) * rdcg / idcg;
        }
        if sum > 0.0 { sum / num_rel as f64 } else { 0.0 }
    }

    /// nDCG averaged at the ranks where the ideal gain drops to the next grade, and at
    /// the end of the ranking.
    fn rndcg(&self) -> f64 {
        if self.num_rel == 0 {
            return 0.0;
        }
        let ideal = self.ideal_gains();
        let ideal_at = |i: usize| ideal.get(i).copied().unwrap_or(0.0);
        let (mut rdcg, mut idcg, mut sum) = (0.0, 0.0, 0.0);
        let mut points = 0usize;
        let mut ideal_gain = ideal_at(0);
        let mut old = ideal_gain;
        let mut i = 0;
        while i < self.num_ret() && ideal_gain > 0.0 {
            let g = Self::gain(self.rels[i]);
            ideal_gain = ideal_at(i);
            if old != ideal_gain {
                if idcg > 0.0 {
                    sum += rdcg / idcg;
                    points += 1;
                }
                old = ideal_gain;
            }
            if g != 0.0 {
                rdcg += g / ((i + 2) as f64).log2();
            }
            if ideal_gain > 0.0 {
                idcg += ideal_gain / ((i + 2) as f64).log2();
            }
            i += 1;
        }
        if i < self.num_ret() {
            while i < self.num_ret() {
                let g = Self::gain(self.rels[i]);
                if g != 0.0 {
                    rdcg += g / ((i + 2) as f64).log2();
                }
                i += 1;
            }
            if idcg > 0.0 {
                sum += rdcg / idcg;
                points += 1;
            }
        }
        while ideal_gain > 0.0 {
            ideal_gain = ideal_at(i);
            if old != ideal_gain {
                if idcg > 0.0 {
                    sum += rdcg / idcg;
                    points += 1;
                }
                old = ideal_gain;
            }
            if ideal_gain > 0.0 {
                idcg += ideal_gain / ((i + 2) as f64).log2();
            }
            i += 1;
        }
        if points > 0 { sum / points as f64 } else { 0.0 }
    }

    fn relative_p(&self, k: usize) -> f64 {
        let denom = k.min(self.num_rel);
        if denom == 0 { 0.0 } else { self.rel_in_top(k) as f64 / denom as f64 }
    }

    fn relstring(&self) -> String {
        self.rels
            .iter()
            .take(10)
            .map(|&r| match r {
                r if r > 9 => '>',
                r if r >= 0 => (b'0' + r as u8) as char,
                REL_NONPOOL => '-',
                REL_UNJUDGED => '.',
                _ => '<',
            })
            .collect()
    }

    /// Rank-biased precision with grades scaled into [0, 1] when the top grade exceeds 1.
    fn rbp(&self) -> f64 {
        let top = (self.levels.len() - 1) as f64;
        let scale = if top > 1.0 { top } else { 1.0 };
        let mut sum = 0.0;
        let mut weight = 1.0;
        for &r in &self.rels {
            let g = Self::gain(r) / scale;
            if g != 0.0 {
                sum += g * weight;
            }
            weight *= RBP_P;
        }
        (1.0 - RBP_P) * sum
    }

    /// RBP's residual: the most that unjudged and unpooled docs (and the unseen tail)
    /// could still add.
    fn rbp_resid(&self) -> f64 {
        let mut sum = 0.0;
        let mut weight = 1.0;
        let mut unjudged = 0usize;
        for &r in &self.rels {
            if r < 0 {
                unjudged += 1;
                sum += weight;
            }
            weight *= RBP_P;
        }
        if unjudged > 0 { weight + (1.0 - RBP_P) * sum } else { 0.0 }
    }

    fn unjudged_at(&self, k: usize) -> f64 {
        self.rels.iter().take(k).filter(|&&r| r < 0).count() as f64 / k as f64
    }
}

fn per_query_values(measures: &MeasureSet, j: &Judged, opts: &EvalOptions) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let num_ret = j.num_ret();
    let num_rel = j.num_rel as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    for (family, params) in &measures.entries {
        let name = family_name(*family);
        let cutoffs: &[usize] = if let Params::Cutoffs(c) = params { c } else { &[] };
        let fractions: &[f64] = if let Params::Fractions(f) = params { f } else { &[] };
        let mut push_cut = |f: &dyn Fn(usize) -> f64| {
            for &k in cutoffs {
                out.push((format!("{name}_{k}"), Value::Float(f(k))));
            }
        };
        match family {
            // Summary-only measures.
            Family::Runid | Family::NumQ | Family::GmMap | Family::GmBpref => {}
            Family::NumRet => out.push((name.into(), Value::Int(num_ret as i64))),
            Family::NumRel => out.push((name.into(), Value::Int(j.num_rel as i64))),
            Family::NumRelRet => out.push((name.into(), Value::Int(j.num_rel_ret as i64))),
            Family::Map => out.push((name.into(), Value::Float(j.average_precision(usize::MAX)))),
            Family::Rprec => out.push((name.into(), Value::Float(j.rprec()))),
            Family::Bpref => out.push((name.into(), Value::Float(j.bpref()))),
            Family::RecipRank => out.push((name.into(), Value::Float(j.recip_rank(opts.recip_rank_cutoff)))),
            Family::IprecAtRecall => {
                for (f, v) in fractions.iter().zip(j.iprec_at_recall(fractions)) {
                    out.push((format!("{name}_{f:.2}"), Value::Float(v)));
                }
            }
            Family::P => push_cut(&|k| j.rel_in_top(k) as f64 / k as f64),
            Family::Relstring => out.push((name.into(), Value::Text(j.relstring()))),
            Family::Recall => push_cut(&|k| ratio(j.rel_in_top(k) as f64, num_rel)),
            Family::InfAp => out.push((name.into(), Value::Float(j.infap()))),
            Family::RprecMult => {
                for (f, v) in fractions.iter().zip(j.rprec_mult(fractions)) {
                    out.push((format!("{name}_{f:.2}"), Value::Float(v)));
                }
            }
            Family::Utility => out.push((name.into(), Value::Float(j.utility()))),
            Family::Pt11Avg => out.push((name.into(), Value::Float(j.pt11_avg()))),
            Family::BinG => out.push((name.into(), Value::Float(j.bin_g()))),
            Family::G => out.push((name.into(), Value::Float(j.g()))),
            Family::Ndcg => out.push((name.into(), Value::Float(j.ndcg(usize::MAX)))),
            Family::NdcgRel => out.push((name.into(), Value::Float(j.ndcg_rel()))),
            Family::Rndcg => out.push((name.into(), Value::Float(j.rndcg()))),
            Family::NdcgCut => push_cut(&|k| j.ndcg(k)),
            Family::MapCut => push_cut(&|k| j.average_precision(k)),
            Family::RelativeP => push_cut(&|k| j.relative_p(k)),
            Family::Success => push_cut(&|k| if j.rel_in_top(k) > 0 { 1.0 } else { 0.0 }),
            Family::SetP => out.push((name.into(), Value::Float(ratio(j.num_rel_ret as f64, num_ret as f64)))),
            Family::SetRelativeP => {
                let denom = num_ret.min(j.num_rel) as f64;
                out.push((name.into(), Value::Float(ratio(j.num_rel_ret as f64, denom))))
            }
            Family::SetRecall => out.push((name.into(), Value::Float(ratio(j.num_rel_ret as f64, num_rel)))),
            Family::SetMap => {
                let rr = j.num_rel_ret as f64;
                out.push((name.into(), Value::Float(ratio(rr * rr, num_ret as f64 * num_rel))))
            }
            Family::SetF => {
                let p = ratio(j.num_rel_ret as f64, num_ret as f64);
                let r = ratio(j.num_rel_ret as f64, num_rel);
                out.push((name.into(), Value::Float(ratio(2.0 * p * r, p + r))))
            }
            Family::NumNonrelJudgedRet => {
                let v = num_ret - j.num_nonpool - j.num_unjudged - j.num_rel_ret;
                out.push((name.into(), Value::Int(v as i64)))
            }
            Family::Rbp => out.push((name.into(), Value::Float(j.rbp()))),
            Family::RbpResid => out.push((name.into(), Value::Float(j.rbp_resid()))),
            Family::Unj => push_cut(&|k| j.unjudged_at(k)),
        }
    }
    out
}

/// Evaluates `run` against `qrels` with the selected measures.
pub fn evaluate(qrels: &Qrels, run: &Run, measures: &MeasureSet, opts: &EvalOptions) -> Result<Evaluation, MetricsError> {
    if run.is_empty() {
        return Err(MetricsError::EmptyRun);
    }
    if opts.relevance_level < 1 {
        return Err(MetricsError::BadOption("relevance level must be at least 1".into()));
    }
    if opts.max_docs_per_query == Some(0) || opts.recip_rank_cutoff == Some(0) {
        return Err(MetricsError::BadOption("cutoffs must be at least 1".into()));
    }
    let empty: Vec<(String, f64)> = Vec::new();
    let mut per_query = Vec::new();
    // Running sums for the summary: plain sums, and sums of logs for geometric means.
    let mut sums: Vec<(String, Value)> = Vec::new();
    let (mut log_ap, mut log_bpref) = (0.0, 0.0);
    for (qid, judgements) in &qrels.by_query {
        // With `complete`, a judged query missing from the run gets an empty ranking,
        // which scores zero on every measure, as trec_eval -c does.
        let ranking = match run.by_query.get(qid) {
            Some(r) => r,
            None if opts.complete => &empty,
            None => continue,
        };
        let j = Judged::new(judgements, ranking, opts);
        log_ap += j.average_precision(usize::MAX).max(MIN_GEO_MEAN).ln();
        log_bpref += j.bpref().max(MIN_GEO_MEAN).ln();
        let values = per_query_values(measures, &j, opts);
        if sums.is_empty() {
            sums = values.iter().filter(|(_, v)| !matches!(v, Value::Text(_))).cloned().collect();
        } else {
            for ((_, acc), (_, v)) in sums.iter_mut().zip(values.iter().filter(|(_, v)| !matches!(v, Value::Text(_)))) {
                match (acc, v) {
                    (Value::Int(a), Value::Int(b)) => *a += b,
                    (Value::Float(a), Value::Float(b)) => *a += b,
                    _ => {}
                }
            }
        }
        per_query.push((qid.clone(), values));
    }
    let n = per_query.len();
    if n == 0 {
        return Err(MetricsError::NoQueriesEvaluated);
    }
    let mut sums = sums.into_iter();
    let mut all = Vec::new();
    for family in measures.entries.keys() {
        let name = family_name(*family);
        match family {
            Family::Runid => all.push((name.to_string(), Value::Text(run.run_id.clone()))),
            Family::NumQ => all.push((name.to_string(), Value::Int(n as i64))),
            Family::GmMap => all.push((name.to_string(), Value::Float((log_ap / n as f64).exp()))),
            Family::GmBpref => all.push((name.to_string(), Value::Float((log_bpref / n as f64).exp()))),
            Family::Relstring => {}
            _ => {
                let count = measures.names_of(*family);
                for _ in 0..count {
                    if let Some((mname, v)) = sums.next() {
                        let v = match v {
                            // Counts are totals, everything else a mean.
                            Value::Int(t) => Value::Int(t),
                            Value::Float(s) => Value::Float(s / n as f64),
                            t => t,
                        };
                        all.push((mname, v));
                    }
                }
            }
        }
    }
    Ok(Evaluation { per_query, all })
}

impl MeasureSet {
    fn names_of(&self, family: Family) -> usize {
        match self.entries.get(&family) {
            Some(Params::Cutoffs(c)) => c.len(),
            Some(Params::Fractions(f)) => f.len(),
            Some(Params::None) => 1,
            None => 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsOptions {
    measures: Vec<String>,
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    relevance_level: Option<i64>,
    #[serde(default)]
    max_docs_per_query: Option<usize>,
    #[serde(default)]
    recip_rank_cutoff: Option<usize>,
    #[serde(default)]
    run_id: String,
}

/// Lists the printed names a measure selection expands to (validates it too).
#[wasm_bindgen(js_name = measureNames)]
pub fn measure_names(measures: Vec<String>) -> Result<Vec<String>, JsError> {
    let set = MeasureSet::parse(&measures).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(set.names())
}

/// The WASM entry point. Qrels come as JSON `[[qid, docno, rel], …]`; the run as JSON
/// `[[qid, docno], …]` with the scores alongside in a Float64Array (so they cross the
/// boundary bit-exact, which trec_eval's tie-breaking depends on). Options are JSON
/// `{measures, complete, relevanceLevel, maxDocsPerQuery, recipRankCutoff, runId}`.
/// Returns JSON `{perQuery: [[qid, [[name, value, text], …]], …], all: [[name, value, text], …]}`
/// where `text` is trec_eval's printed form of the value.
#[wasm_bindgen(js_name = evaluateRun)]
pub fn evaluate_run(qrels_json: &str, run_json: &str, scores: &[f64], options_json: &str) -> Result<String, JsError> {
    evaluate_json(qrels_json, run_json, scores, options_json).map_err(|e| JsError::new(&e))
}

fn evaluate_json(qrels_json: &str, run_json: &str, scores: &[f64], options_json: &str) -> Result<String, String> {
    let opts: JsOptions = serde_json::from_str(options_json).map_err(|e| format!("bad evaluation options: {e}"))?;
    let rows: Vec<(String, String, i64)> = serde_json::from_str(qrels_json).map_err(|e| format!("bad qrels data: {e}"))?;
    let docs: Vec<(String, String)> = serde_json::from_str(run_json).map_err(|e| format!("bad run data: {e}"))?;
    if docs.len() != scores.len() {
        return Err(format!("run has {} documents but {} scores", docs.len(), scores.len()));
    }
    let mut qrels = Qrels::new();
    for (qid, docno, rel) in &rows {
        qrels.insert(qid, docno, *rel).map_err(|e| e.to_string())?;
    }
    let mut run = Run::new(&opts.run_id);
    for ((qid, docno), &score) in docs.iter().zip(scores) {
        run.insert(qid, docno, score).map_err(|e| e.to_string())?;
    }
    let measures = MeasureSet::parse(&opts.measures).map_err(|e| e.to_string())?;
    let eval_opts = EvalOptions {
        complete: opts.complete,
        relevance_level: opts.relevance_level.unwrap_or(1),
        max_docs_per_query: opts.max_docs_per_query,
        recip_rank_cutoff: opts.recip_rank_cutoff,
    };
    let ev = evaluate(&qrels, &run, &measures, &eval_opts).map_err(|e| e.to_string())?;
    let triple = |(name, v): &(String, Value)| json!([name, v.to_json(), v.trec_text(name)]);
    let per_query: Vec<Json> =
        ev.per_query.iter().map(|(qid, values)| json!([qid, values.iter().map(triple).collect::<Vec<_>>()])).collect();
    let all: Vec<Json> = ev.all.iter().map(triple).collect();
    Ok(json!({ "perQuery": per_query, "all": all }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(rows: &[(&str, &str, i64)]) -> Qrels {
        let mut q = Qrels::new();
        for (qid, d, r) in rows {
            q.insert(qid, d, *r).unwrap();
        }
        q
    }

    fn run(rows: &[(&str, &str, f64)]) -> Run {
        let mut r = Run::new("t");
        for (qid, d, s) in rows {
            r.insert(qid, d, *s).unwrap();
        }
        r
    }

    fn value(ev: &Evaluation, qid: &str, name: &str) -> Value {
        let values = if qid == "all" { &ev.all } else { &ev.per_query.iter().find(|(q, _)| q == qid).unwrap().1 };
        values.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} missing")).1.clone()
    }

    fn float(ev: &Evaluation, qid: &str, name: &str) -> f64 {
        match value(ev, qid, name) {
            Value::Float(v) => v,
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn ties_break_by_docno_descending_and_rank_column_is_ignored() {
        let q = qrels(&[("1", "a", 1)]);
        // a and b tie; trec_eval puts "b" first (strcmp descending), so the relevant "a" is rank 2.
        let r = run(&[("1", "a", 1.0), ("1", "b", 1.0)]);
        let ev = evaluate(&q, &r, &MeasureSet::parse(&["recip_rank", "relstring"]).unwrap(), &EvalOptions::default()).unwrap();
        assert_eq!(float(&ev, "1", "recip_rank"), 0.5);
        assert_eq!(value(&ev, "1", "relstring"), Value::Text("-1".into()));
    }

    #[test]
    fn perfect_graded_ranking_has_ndcg_one_and_wrong_order_less() {
        let q = qrels(&[("1", "a", 3), ("1", "b", 1), ("1", "c", 0)]);
        let set = MeasureSet::parse(&["ndcg", "ndcg_cut_2", "map", "P_2"]).unwrap();
        let good = evaluate(&q, &run(&[("1", "a", 3.0), ("1", "b", 2.0), ("1", "c", 1.0)]), &set, &EvalOptions::default()).unwrap();
        assert!((float(&good, "1", "ndcg") - 1.0).abs() < 1e-12);
        assert!((float(&good, "1", "ndcg_cut_2") - 1.0).abs() < 1e-12);
        let bad = evaluate(&q, &run(&[("1", "b", 3.0), ("1", "a", 2.0)]), &set, &EvalOptions::default()).unwrap();
        // DCG = 1/log2(2) + 3/log2(3); IDCG = 3 + 1/log2(3).
        let expect = (1.0 + 3.0 / 3f64.log2()) / (3.0 + 1.0 / 3f64.log2());
        assert!((float(&bad, "1", "ndcg") - expect).abs() < 1e-12);
        assert_eq!(float(&bad, "1", "P_2"), 1.0);
    }

    #[test]
    fn negative_judgements_are_not_relevant_and_count_as_unjudged() {
        let q = qrels(&[("1", "a", -1), ("1", "b", 1), ("1", "c", 0)]);
        let set = MeasureSet::parse(&["num_rel", "num_nonrel_judged_ret", "unj_5", "relstring"]).unwrap();
        let ev = evaluate(&q, &run(&[("1", "a", 3.0), ("1", "b", 2.0), ("1", "c", 1.0), ("1", "z", 0.5)]), &set, &EvalOptions::default()).unwrap();
        assert_eq!(value(&ev, "1", "num_rel"), Value::Int(1));
        assert_eq!(value(&ev, "1", "num_nonrel_judged_ret"), Value::Int(1));
        assert_eq!(float(&ev, "1", "unj_5"), 2.0 / 5.0);
        assert_eq!(value(&ev, "1", "relstring"), Value::Text(".10-".into()));
    }

    #[test]
    fn averages_cover_run_queries_unless_complete() {
        let q = qrels(&[("1", "a", 1), ("2", "b", 1)]);
        let r = run(&[("1", "a", 1.0), ("3", "x", 1.0)]);
        let set = MeasureSet::parse(&["num_q", "map", "num_rel"]).unwrap();
        let ev = evaluate(&q, &r, &set, &EvalOptions::default()).unwrap();
        assert_eq!(value(&ev, "all", "num_q"), Value::Int(1));
        assert_eq!(float(&ev, "all", "map"), 1.0);
        let ev = evaluate(&q, &r, &set, &EvalOptions { complete: true, ..Default::default() }).unwrap();
        assert_eq!(value(&ev, "all", "num_q"), Value::Int(2));
        assert_eq!(float(&ev, "all", "map"), 0.5);
        assert_eq!(value(&ev, "all", "num_rel"), Value::Int(2));
        assert_eq!(float(&ev, "2", "map"), 0.0);
    }

    #[test]
    fn cutoffs_truncate_and_recip_rank_cutoff_is_separate() {
        let q = qrels(&[("1", "c", 1)]);
        let r = run(&[("1", "a", 3.0), ("1", "b", 2.0), ("1", "c", 1.0)]);
        let set = MeasureSet::parse(&["recip_rank", "num_ret", "map"]).unwrap();
        let ev = evaluate(&q, &r, &set, &EvalOptions { recip_rank_cutoff: Some(2), ..Default::default() }).unwrap();
        assert_eq!(float(&ev, "1", "recip_rank"), 0.0);
        assert!((float(&ev, "1", "map") - 1.0 / 3.0).abs() < 1e-12);
        let ev = evaluate(&q, &r, &set, &EvalOptions { max_docs_per_query: Some(2), ..Default::default() }).unwrap();
        assert_eq!(value(&ev, "1", "num_ret"), Value::Int(2));
        assert_eq!(float(&ev, "1", "map"), 0.0);
    }

    #[test]
    fn measure_names_parse_families_params_and_nicknames() {
        let set = MeasureSet::parse(&["recall_100", "ndcg_cut_10", "P.5,10", "relative_P_5", "iprec_at_recall_0.5", "map"]).unwrap();
        assert_eq!(set.names(), ["map", "iprec_at_recall_0.50", "P_5", "P_10", "recall_100", "ndcg_cut_10", "relative_P_5"]);
        assert_eq!(MeasureSet::parse(&["success"]).unwrap().names(), ["success_1", "success_5", "success_10"]);
        assert_eq!(MeasureSet::parse(&["official"]).unwrap().names().len(), 10 + 11 + 9);
        assert!(matches!(MeasureSet::parse(&["ndcg_at_10"]), Err(MetricsError::UnknownMeasure(_))));
        assert!(matches!(MeasureSet::parse(&["P_0"]), Err(MetricsError::BadMeasureParameter { .. })));
        assert!(matches!(MeasureSet::parse(&["P_x"]), Err(MetricsError::BadMeasureParameter { .. })));
        assert!(matches!(MeasureSet::parse(&["map.5"]), Err(MetricsError::BadMeasureParameter { .. })));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut r = Run::new("t");
        r.insert("1", "a", 1.0).unwrap();
        assert!(matches!(r.insert("1", "a", 2.0), Err(MetricsError::DuplicateRunDoc { .. })));
        assert!(matches!(r.insert("1", "b", f64::NAN), Err(MetricsError::NonFiniteScore { .. })));
        let mut q = Qrels::new();
        q.insert("1", "a", 1).unwrap();
        assert!(matches!(q.insert("1", "a", 0), Err(MetricsError::DuplicateQrel { .. })));
        let set = MeasureSet::parse(&["map"]).unwrap();
        assert_eq!(evaluate(&q, &Run::new("t"), &set, &EvalOptions::default()), Err(MetricsError::EmptyRun));
        let other = run(&[("9", "a", 1.0)]);
        assert_eq!(evaluate(&q, &other, &set, &EvalOptions::default()), Err(MetricsError::NoQueriesEvaluated));
        let bad_level = EvalOptions { relevance_level: 0, ..Default::default() };
        assert!(matches!(evaluate(&q, &r, &set, &bad_level), Err(MetricsError::BadOption(_))));
    }

    #[test]
    fn printed_values_round_half_to_even_like_printf() {
        // 0.03125 is exact in binary: C's printf("%.4f") prints 0.0312.
        assert_eq!(Value::Float(0.03125).trec_text("x"), "0.0312");
        assert_eq!(Value::Float(-358.0).trec_text("utility"), "-358.0000");
        assert_eq!(Value::Int(500).trec_text("num_ret"), "500");
    }

    #[test]
    fn json_entry_point_round_trips() {
        let out = evaluate_json(
            r#"[["1","a",1],["1","b",0]]"#,
            r#"[["1","a"],["1","b"]]"#,
            &[2.0, 1.0],
            r#"{"measures":["map","num_q","runid"],"runId":"r1"}"#,
        )
        .unwrap();
        let v: Json = serde_json::from_str(&out).unwrap();
        assert_eq!(v["all"][0], json!(["runid", "r1", "r1"]));
        assert_eq!(v["all"][1], json!(["num_q", 1, "1"]));
        assert_eq!(v["perQuery"][0][1][0], json!(["map", 1.0, "1.0000"]));
        assert!(evaluate_json("[]", "[]", &[1.0], r#"{"measures":[]}"#).is_err());
    }

    /// Parity with trec_eval's own expected outputs, shipped in test/fixtures/trec_eval.
    mod parity {
        use super::*;

        fn fixture(name: &str) -> String {
            let path = format!("{}/../../test/fixtures/trec_eval/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        }

        fn load(qrels_file: &str, run_file: &str) -> (Qrels, Run) {
            let mut q = Qrels::new();
            for line in fixture(qrels_file).lines().filter(|l| !l.trim().is_empty()) {
                let f: Vec<&str> = line.split_whitespace().collect();
                q.insert(f[0], f[2], f[3].parse().unwrap()).unwrap();
            }
            let mut r = Run::new("");
            for line in fixture(run_file).lines().filter(|l| !l.trim().is_empty()) {
                let f: Vec<&str> = line.split_whitespace().collect();
                r.insert(f[0], f[2], f[4].parse().unwrap()).unwrap();
                r.run_id = f[5].to_string();
            }
            (q, r)
        }

        fn check(expected: &str, run_file: &str, measures: &str, per_query: bool, complete: bool) {
            let (q, r) = load("qrels.test", run_file);
            let set = MeasureSet::parse(&[measures]).unwrap();
            let ev = evaluate(&q, &r, &set, &EvalOptions { complete, ..Default::default() }).unwrap();
            let got = ev.to_trec_table(per_query);
            let want = fixture(expected);
            for (g, w) in got.lines().zip(want.lines()) {
                assert_eq!(g, w, "{expected}");
            }
            assert_eq!(got.lines().count(), want.lines().count(), "{expected}");
        }

        #[test]
        fn official_summary() {
            check("out.test", "results.test", "official", false, false);
        }

        #[test]
        fn all_trec_summary() {
            check("out.test.a", "results.test", "all_trec", false, false);
        }

        #[test]
        fn all_trec_per_query() {
            check("out.test.aq", "results.test", "all_trec", true, false);
        }

        #[test]
        fn all_trec_per_query_complete() {
            check("out.test.aqc", "results.trunc", "all_trec", true, true);
        }
    }
}
