"""The reproduction report: REPORT.md and a self-contained REPORT.html (figures embedded) from stage records.

``reproduce.py`` runs the stages and hands each one's record here: its title, what it shows, the exact
commands, the runtime, the measured metrics next to the published ones, and its figures. The published
numbers live in :data:`PAPER_NUMBERS` (from ``spec/paper_numbers.md``; "not known" where the value could not
be confirmed, never invented).
"""

import base64
import html
import os
import platform
import shlex
import subprocess
import urllib.parse

from .files import atomic_write

NOT_KNOWN = "not known"

# (stage, metric) -> (published value, where it comes from)
PAPER_NUMBERS = {
    ("integrate_and_fire", "AUC"): ("about 0.997", "paper preprint v1: a single hidden unit"),
    ("integrate_and_fire", "TP @ 0.2 % FP"): (NOT_KNOWN, ""),
    ("integrate_and_fire", "soma explained variance %"): (NOT_KNOWN, ""),
    ("integrate_and_fire", "soma RMSE (mV)"): (NOT_KNOWN, ""),
    ("ball_and_stick", "AMPA_point AUC"): ("0.99904 (config C)", "tutorial, config C"),
    ("ball_and_stick", "NMDA_cable AUC"): ("0.97555 (config C)", "tutorial, config C"),
    ("ball_and_stick", "AMPA_point TP @ 0.2 % FP"): ("0.886 (config C)", "tutorial, config C"),
    ("ball_and_stick", "NMDA_cable TP @ 0.2 % FP"): ("0.248 (config C)", "tutorial, config C"),
    ("ball_and_stick", "AMPA_point soma explained variance %"): ("93.9 (config C)", "tutorial, config C"),
    ("ball_and_stick", "NMDA_cable soma explained variance %"): ("66.1 (config C)", "tutorial, config C"),
    ("l5pc_tcn", "AUC"): (NOT_KNOWN + " (paper); 0.992-0.995 for ELM models on the full dataset",
                          "paper; elmneuron retrained-model table"),
    ("l5pc_tcn", "soma explained variance %"): (NOT_KNOWN + " (paper); 95.7-96.6 for ELM models",
                                                "paper; elmneuron retrained-model table"),
    ("l5pc_tcn", "soma RMSE (mV)"): (NOT_KNOWN + " (paper); 0.56-0.64 for ELM models",
                                     "paper; elmneuron retrained-model table"),
}


def machine_description():
    """One line: CPU model, cores, memory, OS and Python (for the report header)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            total_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
        memory = f", {total_kb / 2**20:.1f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"{cpu}, {os.cpu_count()} logical cores{memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def git_revision(directory):
    """The checked-out commit of ``directory`` (or "unknown")."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=directory, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def format_value(value):
    """Numbers with 4 significant digits, everything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_command(command):
    """A shell-ready command line."""
    return " ".join(shlex.quote(str(part)) for part in command)


def format_duration(seconds):
    """'1 h 02 min', '3 min 05 s' or '12.3 s'."""
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def metric_rows(stage):
    """(metric, measured, published, source) rows of one stage record."""
    rows = []
    for name, value in stage.get("metrics", {}).items():
        published, source = PAPER_NUMBERS.get((stage["key"], name), ("", ""))
        rows.append((name, format_value(value), published, source))
    return rows


def render_markdown(title, stages, header):
    """The text of REPORT.md; figure links are relative to the report's folder."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in header.items()]
    lines += ["", "| stage | status | runtime |", "|---|---|---|"]
    lines += [f"| {s['title']} | {s['status']} | {format_duration(s.get('runtime_sec'))} |" for s in stages]
    for stage in stages:
        lines += ["", f"## {stage['title']}", "", stage.get("description", ""), ""]
        lines += [f"Status: **{stage['status']}**, runtime {format_duration(stage.get('runtime_sec'))}.", ""]
        lines += ["Regenerate with:", "", "```bash"] + [format_command(c) for c in stage.get("commands", [])]
        lines += ["```", ""]
        rows = metric_rows(stage)
        if rows:
            lines += ["| metric | measured | published | source |", "|---|---|---|---|"]
            lines += [f"| {name} | {measured} | {published} | {source} |" for name, measured, published, source in rows]
            lines.append("")
        for note in stage.get("notes", []):
            lines.append(f"- {note}")
        if stage.get("notes"):
            lines.append("")
        for figure in stage.get("figures", []):
            lines += [f"![{os.path.basename(figure)}]({urllib.parse.quote(figure)})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _embedded_image(path):
    """An <img> with the PNG inlined as base64, so the HTML file stands alone."""
    with open(path, "rb") as handle:
        data = base64.b64encode(handle.read()).decode("ascii")
    alt = html.escape(os.path.basename(path))
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'


def render_html(title, stages, header, report_dir):
    """REPORT.html: the same content as the markdown, with every figure embedded."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}",
        "pre{background:#f4f4f4;padding:8px;overflow-x:auto}img{max-width:100%}figure{margin:1em 0}",
        "figcaption{font-size:80%;color:#555}</style></head><body>",
        f"<h1>{esc(title)}</h1><ul>",
    ]
    parts += [f"<li><b>{esc(key)}</b>: {esc(str(value))}</li>" for key, value in header.items()]
    parts.append("</ul><table><tr><th>stage</th><th>status</th><th>runtime</th></tr>")
    parts += [f"<tr><td>{esc(s['title'])}</td><td>{esc(s['status'])}</td>"
              f"<td>{esc(format_duration(s.get('runtime_sec')))}</td></tr>" for s in stages]
    parts.append("</table>")
    for stage in stages:
        parts.append(f"<h2>{esc(stage['title'])}</h2><p>{esc(stage.get('description', ''))}</p>")
        parts.append(f"<p>Status: <b>{esc(stage['status'])}</b>, runtime "
                     f"{esc(format_duration(stage.get('runtime_sec')))}.</p>")
        commands = "\n".join(format_command(c) for c in stage.get("commands", []))
        parts.append(f"<p>Regenerate with:</p><pre>{esc(commands)}</pre>")
        rows = metric_rows(stage)
        if rows:
            parts.append("<table><tr><th>metric</th><th>measured</th><th>published</th><th>source</th></tr>")
            parts += ["<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows]
            parts.append("</table>")
        if stage.get("notes"):
            parts.append("<ul>" + "".join(f"<li>{esc(note)}</li>" for note in stage["notes"]) + "</ul>")
        for figure in stage.get("figures", []):
            path = os.path.join(report_dir, figure)
            if os.path.isfile(path):
                parts.append(_embedded_image(path))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report_dir, title, stages, header):
    """Write REPORT.md and REPORT.html into ``report_dir`` (atomically); return their paths."""
    markdown_path = os.path.join(report_dir, "REPORT.md")
    html_path = os.path.join(report_dir, "REPORT.html")
    with atomic_write(markdown_path, "w") as handle:
        handle.write(render_markdown(title, stages, header))
    with atomic_write(html_path, "w") as handle:
        handle.write(render_html(title, stages, header, report_dir))
    return markdown_path, html_path
