"""The tables and curves of a group of finished runs, written by ``compare`` and ``sweep`` alike
(``mixgan/evaluation/tables.py`` computes, ``mixgan/viz/curves.py`` draws)."""
from mixgan.evaluation import tables
from mixgan.viz.curves import write_plots


def write_summary(folder, keyed_runs, meta):
    """``summary.md``, ``summary.json``, a table per dataset and its curves in ``folder``, for the
    runs ``{(data, label, seed): run folder}``; returns the headline Markdown."""
    rows = tables.tabulate(tables.collect_records(keyed_runs))
    meta = {"labels": list(dict.fromkeys(k[1] for k in keyed_runs)),
            "datasets": list(dict.fromkeys(k[0] for k in sorted(keyed_runs))),
            "seeds": sorted({k[2] for k in keyed_runs}), **meta,
            "runs": {f"{d}/{l}/s{s}": str(p) for (d, l, s), p in sorted(keyed_runs.items())}}
    tables.write_tables(folder, rows, meta)
    write_plots(folder, rows)
    return tables.summary_markdown(rows)
