"""Tests of the L5PC NEURON mechanisms and of their compile-and-load step.

Every channel is checked against an independent numpy implementation of the formulas in
/work/shared/spec/l5pc_mechanisms.md (steady states after finitialize, and one fixed-step cnexp update),
and the synapses against the dual-exponential peaks of the spec's §16 table, the NMDA Mg block and the
t = 0 / Dep = 0 silencing quirk of §15, with CVODE off and on.

Run: /work/venv/bin/pytest tests/test_mechanisms.py -m neuron
(the first run in a fresh checkout also compiles the mechanisms, about 30 s).
"""

import math
import time

import numpy as np
import pytest

from neuron_as_deep_net.core import mechanisms
from neuron_as_deep_net.core.mechanisms import MODS_DIR, load_mechanisms

pytestmark = pytest.mark.neuron

QT = 2.3 ** ((34 - 21) / 10)  # spec §0, 2.952882641412121
FARADAY = 96485.33212331001  # C/mol, NEURON 9 modern units
GAS_CONSTANT = 8.31446261815324  # J/(mol K)
DT_MS = 0.025


# ---------------------------------------------------------------------------------------------------------
# independent numpy implementation of the spec formulas: each returns {gate: (steady state, tau in ms)}


def _ratio(alpha, beta, tau_scale=1.0):
    return alpha / (alpha + beta), tau_scale / (alpha + beta)


def ref_ca_hva(v):
    if v == -27:
        v += 1e-4
    am, bm = 0.055 * (-27 - v) / (math.exp((-27 - v) / 3.8) - 1), 0.94 * math.exp((-75 - v) / 17)
    ah, bh = 0.000457 * math.exp((-13 - v) / 50), 0.0065 / (math.exp((-v - 15) / 28) + 1)
    return {"m": _ratio(am, bm), "h": _ratio(ah, bh)}


def ref_ca_lvast(v):
    return {"m": (1 / (1 + math.exp(-(v + 40) / 6)), (5 + 20 / (1 + math.exp((v + 35) / 5))) / QT),
            "h": (1 / (1 + math.exp((v + 90) / 6.4)), (20 + 50 / (1 + math.exp((v + 50) / 7))) / QT)}


def ref_ih(v, vshift=0.0):
    if v == -154.9:
        v += 1e-4
    x = v - (-154.9 + vshift)
    am, bm = 0.00643 * x / (math.exp(x / 11.9) - 1), 0.193 * math.exp((v - vshift) / 33.1)
    return {"m": _ratio(am, bm)}


def ref_im(v):
    am, bm = 3.3e-3 * math.exp(0.1 * (v + 35)), 3.3e-3 * math.exp(-0.1 * (v + 35))
    return {"m": _ratio(am, bm, 1 / QT)}


def ref_k_pst(v):
    u = v + 10
    tau_m = 1.25 + (175.03 * math.exp(0.026 * u) if u < -50 else 13 * math.exp(-0.026 * u))
    tau_h = 360 + (1010 + 24 * (u + 55)) * math.exp(-(((u + 75) / 48) ** 2))
    return {"m": (1 / (1 + math.exp(-(u + 1) / 12)), tau_m / QT),
            "h": (1 / (1 + math.exp((u + 54) / 11)), tau_h / QT)}


def ref_k_tst(v):
    u = v + 10
    return {"m": (1 / (1 + math.exp(-u / 19)), (0.34 + 0.92 * math.exp(-(((u + 71) / 59) ** 2))) / QT),
            "h": (1 / (1 + math.exp((u + 66) / 10)), (8 + 49 * math.exp(-(((u + 73) / 23) ** 2))) / QT)}


def _ref_transient_na(v, m_half, h_half):
    """NaTa_t (38, 66) and NaTs2_t (32, 60): guards then alpha/beta forms."""
    if v == -m_half:
        v += 1e-4
    am = 0.182 * (v + m_half) / (1 - math.exp(-(v + m_half) / 6))
    bm = 0.124 * (-v - m_half) / (1 - math.exp((v + m_half) / 6))
    if v == -h_half:
        v += 1e-4
    ah = -0.015 * (v + h_half) / (1 - math.exp((v + h_half) / 6))
    bh = -0.015 * (-v - h_half) / (1 - math.exp(-(v + h_half) / 6))
    return {"m": _ratio(am, bm, 1 / QT), "h": _ratio(ah, bh, 1 / QT)}


def ref_nap_et2(v):
    m_inf = 1 / (1 + math.exp(-(v + 52.6) / 4.6))
    if v == -38:
        v += 1e-4
    am = 0.182 * (v + 38) / (1 - math.exp(-(v + 38) / 6))
    bm = 0.124 * (-v - 38) / (1 - math.exp((v + 38) / 6))
    if v == -17:
        v += 1e-4
    if v == -64.4:
        v += 1e-4
    ah = -2.88e-6 * (v + 17) / (1 - math.exp((v + 17) / 4.63))
    bh = 6.94e-6 * (v + 64.4) / (1 - math.exp(-(v + 64.4) / 2.63))
    return {"m": (m_inf, 6 / (am + bm) / QT), "h": (1 / (1 + math.exp((v + 48.8) / 10)), 1 / (ah + bh) / QT)}


def ref_skv3_1(v):
    return {"m": (1 / (1 + math.exp(-(v - 18.7) / 9.7)), 4 / (1 + math.exp(-(v + 46.56) / 44.14)))}


def ref_sk_e2_z_inf(cai):
    if cai < 1e-7:
        cai += 1e-7
    return 1 / (1 + (0.00043 / cai) ** 4.8)


def mggate(v, mg=1.0):
    return 1 / (1 + math.exp(-0.08 * v) * mg / 3.57)


COMMON_VOLTAGES = [-120.0, -90.0, -76.0, -60.0, -45.0, -30.0, -10.0, 0.0, 15.0, 40.0]
CHANNELS = {  # suffix: (reference, extra voltages: singularity guards and branch switches)
    "Ca_HVA": (ref_ca_hva, [-27.0]),
    "Ca_LVAst": (ref_ca_lvast, []),
    "Ih": (ref_ih, [-154.9, -154.9001]),
    "Im": (ref_im, []),
    "K_Pst": (ref_k_pst, [-60.0, -60.0001, -59.9999]),
    "K_Tst": (ref_k_tst, []),
    "NaTa_t": (lambda v: _ref_transient_na(v, 38, 66), [-38.0, -66.0]),
    "NaTs2_t": (lambda v: _ref_transient_na(v, 32, 60), [-32.0, -60.0]),
    "Nap_Et2": (ref_nap_et2, [-38.0, -17.0, -64.4]),
    "SKv3_1": (ref_skv3_1, []),
}


# ---------------------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def h():
    load_mechanisms()
    from neuron import h as hoc

    hoc.load_file("stdrun.hoc")
    return hoc


@pytest.fixture
def fixed_step(h):
    """Fixed-step integration at DT_MS and 6.3 degC for the duration of a test."""
    h.cvode_active(0)
    h.dt = DT_MS
    h.celsius = 6.3
    yield h
    h.cvode_active(0)
    h.dt = DT_MS
    h.celsius = 6.3


def single_compartment(h, *suffixes):
    """A 10 um x 10 um cylinder with nseg 1 and the given mechanisms inserted."""
    sec = h.Section(name="test_compartment")
    sec.L = sec.diam = 10
    sec.nseg = 1
    for suffix in suffixes:
        sec.insert(suffix)
    return sec


def gate_values(seg, suffix, gates):
    mech = getattr(seg, suffix)
    return {gate: getattr(mech, gate) for gate in gates}


# ---------------------------------------------------------------------------------------------------------
# compile and load


def test_load_is_idempotent_and_cached(h, capsys):
    assert all(hasattr(h, name) for name in ["NaTa_t", "CaDynamics_E2", "ProbUDFsyn2", "ProbAMPANMDA2"])
    capsys.readouterr()
    start = time.perf_counter()
    load_mechanisms()
    load_mechanisms(MODS_DIR)
    assert time.perf_counter() - start < 1.0
    assert capsys.readouterr().out == ""  # no recompilation, no message
    cache_dir = mechanisms.CACHE_DIR / mechanisms._build_hash(sorted(MODS_DIR.glob("*.mod")))
    assert (cache_dir / mechanisms.COMPLETE_MARKER).is_file()
    assert mechanisms._library_path(cache_dir) is not None
    assert cache_dir.parent == MODS_DIR.parent / ".mechanism_cache"


def test_build_hash_follows_mod_contents(tmp_path):
    original = tmp_path / "NaTa_t.mod"
    original.write_bytes((MODS_DIR / "NaTa_t.mod").read_bytes())
    first = mechanisms._build_hash([original])
    assert len(first) == mechanisms.HASH_LENGTH
    original.write_bytes(original.read_bytes() + b"\n: edited\n")
    assert mechanisms._build_hash([original]) != first
    assert mechanisms._mechanism_name(original) == "NaTa_t"


def test_mod_files_are_lf_and_complete():
    expected = {"CaDynamics_E2", "Ca_HVA", "Ca_LVAst", "Ih", "Im", "K_Pst", "K_Tst", "NaTa_t", "NaTs2_t",
                "Nap_Et2", "SK_E2", "SKv3_1", "ProbUDFsyn2", "ProbAMPANMDA2"}
    paths = sorted(MODS_DIR.glob("*.mod"))
    assert {mechanisms._mechanism_name(p) for p in paths} == expected
    for path in paths:
        text = path.read_bytes()
        assert b"\r" not in text and b"VERBATIM" not in text, path.name


def test_missing_compiler_gives_one_clear_line(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(mechanisms.sysconfig, "get_config_var", lambda name: "no-such-compiler-xyz")
    real_which = mechanisms.shutil.which
    monkeypatch.setattr(mechanisms.shutil, "which", lambda cmd: real_which(cmd) if cmd == "make" else None)
    message = r"^nrnivmodl failed: no C/C\+\+ compiler found; install gcc/g\+\+"
    with pytest.raises(RuntimeError, match=message):
        mechanisms._build_environment()


EXTRA_MOD = """: Test-only leak current, used to check load_mechanisms(extra_mod_files=...).
NEURON {
    SUFFIX TestLeakMechanismsPy
    NONSPECIFIC_CURRENT i
    RANGE g
}
UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}
PARAMETER {
    g = 0.001 (S/cm2)
}
ASSIGNED {
    v (mV)
    i (mA/cm2)
}
BREAKPOINT {
    i = g * (v + 70)
}
"""


def test_extra_mod_files_are_built_and_loaded(h, tmp_path):
    path = tmp_path / "TestLeakMechanismsPy.mod"
    path.write_text(EXTRA_MOD)
    load_mechanisms(extra_mod_files=[path])  # builds only the missing mechanism (cached after the first run)
    load_mechanisms(extra_mod_files=[path])
    sec = single_compartment(h, "TestLeakMechanismsPy")
    assert sec(0.5).TestLeakMechanismsPy.g == pytest.approx(0.001)


# ---------------------------------------------------------------------------------------------------------
# channels


@pytest.mark.parametrize("suffix", sorted(CHANNELS))
def test_channel_steady_state(fixed_step, suffix):
    h = fixed_step
    reference, extra_voltages = CHANNELS[suffix]
    sec = single_compartment(h, suffix)
    seg = sec(0.5)
    for v in COMMON_VOLTAGES + extra_voltages:
        h.finitialize(v)
        expected = reference(v)
        got = gate_values(seg, suffix, expected)
        for gate, (inf, _) in expected.items():
            assert math.isfinite(got[gate]), (suffix, gate, v)
            assert got[gate] == pytest.approx(inf, rel=1e-10, abs=1e-300), (suffix, gate, v)


@pytest.mark.parametrize("suffix", sorted(CHANNELS))
def test_channel_time_constant_one_cnexp_step(fixed_step, suffix):
    """finitialize at v0, jump the huge-cm compartment to v1, one step: x1 = inf + (x0 - inf) e^(-dt/tau)."""
    h = fixed_step
    h.celsius = 34.0  # no channel reads celsius: the same numbers must come out
    reference, _ = CHANNELS[suffix]
    sec = single_compartment(h, suffix)
    sec.cm = 1e9  # v stays at v1 to ~1e-9 mV during the step
    seg = sec(0.5)
    jumps = [(-76.0, -40.0), (-90.0, 0.0), (-40.0, -100.0), (0.0, 30.0), (-76.0, -60.0), (-30.0, -60.0001)]
    for v0, v1 in jumps:
        h.finitialize(v0)
        x0 = gate_values(seg, suffix, reference(v0))
        seg.v = v1
        h.fadvance()
        x1 = gate_values(seg, suffix, reference(v1))
        for gate, (inf, tau) in reference(v1).items():
            expected = inf + (x0[gate] - inf) * math.exp(-DT_MS / tau)
            assert x1[gate] == pytest.approx(expected, rel=1e-9, abs=1e-15), (suffix, gate, v0, v1)
            if abs(x0[gate] - inf) > 1e-5:  # tau itself (well conditioned; K_Pst's branches differ by 8e-6)
                tau_step = -DT_MS / math.log((x1[gate] - inf) / (x0[gate] - inf))
                assert tau_step == pytest.approx(tau, rel=1e-6), (suffix, gate, v0, v1)

def test_ih_vshift_is_a_range_variable(fixed_step):
    h = fixed_step
    sec = single_compartment(h, "Ih")
    sec(0.5).vshift_Ih = 7.5
    for v in [-100.0, -76.0]:
        h.finitialize(v)
        assert sec(0.5).m_Ih == pytest.approx(ref_ih(v, vshift=7.5)["m"][0], rel=1e-10)


def test_sk_e2_steady_state_and_step(fixed_step):
    h = fixed_step
    sec = single_compartment(h, "SK_E2")
    sec.cm = 1e9
    seg = sec(0.5)
    assert h.cai0_ca_ion == 5e-5
    h.finitialize(-76)  # no mechanism writes cai here, so it is a parameter fixed at cai0_ca_ion
    assert seg.cai == 5e-5 and seg.z_SK_E2 == pytest.approx(3.2688e-5, rel=1e-4)
    for cai in [5e-5, 1e-4, 5e-8, 1e-3]:
        seg.cai = cai
        h.finitialize(-76)
        assert seg.z_SK_E2 == pytest.approx(ref_sk_e2_z_inf(cai), rel=1e-10), cai
    seg.cai = 5e-5
    h.finitialize(-76)
    z0 = seg.z_SK_E2
    seg.cai = 1e-3
    h.fadvance()
    z_inf = ref_sk_e2_z_inf(1e-3)
    assert seg.z_SK_E2 == pytest.approx(z_inf + (z0 - z_inf) * math.exp(-DT_MS / 1.0), rel=1e-10)


def test_ca_dynamics_initial_value_eca_and_one_step(fixed_step):
    h = fixed_step
    sec = single_compartment(h, "CaDynamics_E2", "Ca_HVA")
    sec.cm = 1e9
    seg = sec(0.5)
    seg.gCa_HVAbar_Ca_HVA = 0.01
    v0 = -20.0
    h.finitialize(v0)
    assert seg.cai == 5e-5  # no INITIAL block: cai stays at cai0_ca_ion, not minCai
    assert seg.eca == pytest.approx(127.5895, abs=1e-3)
    eca = GAS_CONSTANT * (6.3 + 273.15) / (2 * FARADAY) * math.log(2.0 / 5e-5) * 1000
    assert seg.eca == pytest.approx(eca, rel=1e-9)

    gates = ref_ca_hva(v0)
    ica = 0.01 * gates["m"][0] ** 2 * gates["h"][0] * (v0 - eca)  # mA/cm2
    decay, gamma, depth, min_cai, cai = 80.0, 0.05, 0.1, 1e-4, 5e-5
    drive = min_cai - decay * 10000 * ica * gamma / (2 * FARADAY * depth)
    expected = cai + (1 - math.exp(-DT_MS / decay)) * (drive - cai)
    h.fadvance()
    assert seg.cai - cai == pytest.approx(expected - cai, rel=1e-7)


# ---------------------------------------------------------------------------------------------------------
# synapses (spec §13-§16; original_behaviour.md §2.5)

SYNAPSES = {  # name: (mechanism, parameters, conductance records {name: (tp in ms, peak / gmax)})
    "AMPA": ("ProbUDFsyn2", dict(tau_r=0.3, tau_d=3.0, gmax=0.0004, e=0), {"g": (0.767528364331, None)}),
    "NMDA": ("ProbAMPANMDA2", dict(tau_r_AMPA=0.3, tau_d_AMPA=3.0, tau_r_NMDA=2.0, tau_d_NMDA=70.0,
                                   gmax=0.0004, e=0), {"g_AMPA": (0.767528364331, None),
                                                       "g_NMDA": (7.31983424424, "mggate")}),
    "GABA_A": ("ProbUDFsyn2", dict(tau_r=0.2, tau_d=8, gmax=0.001, e=-80), {"g": (0.756693221357, None)}),
}
FACTORS = {"AMPA": [1.43505518335], "NMDA": [1.43505518335, 1.1428859488], "GABA_A": [1.12738913641]}  # §16
STP_PARAMETERS = dict(Use=1, u0=0, Dep=0, Fac=0)


def make_synapse(h, sec, kind):
    mechanism, parameters, _ = SYNAPSES[kind]
    syn = getattr(h, mechanism)(sec(0.5))
    for name, value in {**parameters, **STP_PARAMETERS}.items():
        setattr(syn, name, value)
    return syn


def clamped_compartment(h, v_clamp):
    sec = single_compartment(h, "pas")
    clamp = h.SEClamp(sec(0.5))
    clamp.dur1, clamp.amp1, clamp.rs = 1e9, v_clamp, 1e-3
    return sec, clamp


def run_with_events(h, netcons_and_times, tstop, cvode, v_init, records):
    """Queue the events from an FInitializeHandler (as the dataset script does), run, return numpy traces."""
    h.cvode_active(1 if cvode else 0)
    h.dt = 0.01
    handler = h.FInitializeHandler(lambda: [nc.event(t) for nc, times in netcons_and_times for t in times])
    vectors = {name: h.Vector().record(ref) for name, ref in records.items()}
    t_vec = h.Vector().record(h._ref_t)
    h.finitialize(v_init)
    h.continuerun(tstop)
    del handler
    return np.array(t_vec), {name: np.array(vec) for name, vec in vectors.items()}


@pytest.mark.parametrize("kind,v_clamp", [("AMPA", -76.0), ("GABA_A", -76.0), ("NMDA", -40.0), ("NMDA", 0.0)])
def test_synapse_peak_and_time_to_peak(fixed_step, kind, v_clamp):
    h = fixed_step
    sec, clamp = clamped_compartment(h, v_clamp)
    syn = make_synapse(h, sec, kind)
    netcon = h.NetCon(None, syn)
    netcon.weight[0], netcon.delay = 1, 0
    _, parameters, conductances = SYNAPSES[kind]
    records = {name: getattr(syn, f"_ref_{name}") for name in conductances}
    states = {"B": "tau_d"} if kind != "NMDA" else {"B_AMPA": "tau_d_AMPA", "B_NMDA": "tau_d_NMDA"}
    records.update({state: getattr(syn, f"_ref_{state}") for state in states})
    t, traces = run_with_events(h, [(netcon, [1.0])], tstop=1.0 + 12.0, cvode=False, v_init=v_clamp,
                                records=records)
    for state, tau_name, factor in zip(states, states.values(), FACTORS[kind]):  # the normalisation factor
        factor_measured = traces[state][-1] * math.exp((t[-1] - 1.0) / parameters[tau_name])
        assert factor_measured == pytest.approx(factor, rel=1e-9), state
    for name, (tp, scale) in conductances.items():
        expected_peak = parameters["gmax"] * (mggate(v_clamp) if scale == "mggate" else 1.0)
        k = int(np.argmax(traces[name]))
        assert traces[name][k] == pytest.approx(expected_peak, rel=0.01), (kind, name)
        assert abs((t[k] - 1.0) - tp) < 0.05, (kind, name, t[k])
    if kind == "NMDA":  # the spec's mggate values, and i = i_AMPA + i_NMDA
        assert mggate(v_clamp) == pytest.approx({-40.0: 0.12703, 0.0: 0.78118}[v_clamp], abs=1e-5)
        assert syn.mggate == pytest.approx(mggate(sec(0.5).v), rel=1e-6)
        assert syn.i == pytest.approx(syn.i_AMPA + syn.i_NMDA, rel=1e-12)
        assert syn.i_NMDA == pytest.approx(syn.g_NMDA * (sec(0.5).v - syn.e), rel=1e-3)


@pytest.mark.parametrize("cvode", [False, True], ids=["fixed_step", "cvode"])
@pytest.mark.parametrize("kind", ["AMPA", "NMDA"])
def test_first_event_at_t0_silences_netcon(fixed_step, kind, cvode):
    """Dep = 0 and an event at t = tsyn = 0: Pv = 0/0 = NaN, so that NetCon never releases (spec §15)."""
    h = fixed_step
    sec, clamp = clamped_compartment(h, -76.0)
    silenced_syn, control_syn = make_synapse(h, sec, kind), make_synapse(h, sec, kind)
    silenced, control = h.NetCon(None, silenced_syn), h.NetCon(None, control_syn)
    for netcon in (silenced, control):
        netcon.weight[0], netcon.delay = 1, 0
    pv_index = {"AMPA": 1, "NMDA": 3}[kind]
    assert silenced.wcnt() == {"AMPA": 5, "NMDA": 7}[kind]
    g_name = "g" if kind == "AMPA" else "g_AMPA"
    records = {"silenced": getattr(silenced_syn, f"_ref_{g_name}"),
               "control": getattr(control_syn, f"_ref_{g_name}")}
    if kind == "NMDA":
        records["silenced_nmda"] = silenced_syn._ref_g_NMDA
    event_times = {"silenced": [0.0, 5.0, 10.0], "control": [1.0, 5.0, 10.0]}
    t, traces = run_with_events(h, [(silenced, event_times["silenced"]), (control, event_times["control"])],
                                tstop=15.0, cvode=cvode, v_init=-76.0, records=records)

    assert math.isnan(silenced.weight[pv_index]) and math.isnan(silenced.weight[pv_index + 1])  # Pv, Pr
    assert np.all(traces["silenced"] == 0.0)
    if kind == "NMDA":
        assert np.all(traces["silenced_nmda"] == 0.0)
    gmax = SYNAPSES[kind][1]["gmax"]
    for event_time in event_times["control"]:  # every control event releases at full weight
        before = traces["control"][t <= event_time][-1]
        after = traces["control"][(t > event_time) & (t <= event_time + 1.5)].max()
        assert after - before > 0.5 * gmax, (event_time, before, after)
    assert control.weight[pv_index] == 0.0 and control.weight[pv_index + 1] == 1.0  # depleted; Pr = 1


@pytest.mark.parametrize("cvode", [False, True], ids=["fixed_step", "cvode"])
@pytest.mark.parametrize("mechanism", ["ProbUDFsyn2", "ProbAMPANMDA2"])
def test_per_netcon_plasticity_state(fixed_step, mechanism, cvode):
    """With Fac, Dep > 0 the per-NetCon u, Pv, Pr, tsyn follow the spec's update order (§13 steps 1-6)."""
    h = fixed_step
    sec, clamp = clamped_compartment(h, -76.0)
    syn = getattr(h, mechanism)(sec(0.5))
    use, dep, fac, u0 = 0.3, 100.0, 10.0, 0.1
    syn.Use, syn.Dep, syn.Fac, syn.u0 = use, dep, fac, u0
    netcon = h.NetCon(None, syn)
    netcon.weight[0], netcon.delay = 0.5, 0
    event_times = [2.0, 7.0, 15.0]
    run_with_events(h, [(netcon, event_times)], tstop=16.0, cvode=cvode, v_init=-76.0, records={})

    pv, u, tsyn, pr = 1.0, u0, 0.0, None
    for t in event_times:
        u = u * math.exp(-(t - tsyn) / fac)
        u = u + use * (1 - u)
        pv = 1 - (1 - pv) * math.exp(-(t - tsyn) / dep)
        pr = u * pv
        pv = pv - u * pv
        tsyn = t
    first = 1 if mechanism == "ProbUDFsyn2" else 3  # index of Pv in the NetCon weight vector
    if mechanism == "ProbAMPANMDA2":
        assert netcon.weight[1] == netcon.weight[2] == 0.5  # weight_AMPA = weight_NMDA = weight
    got = [netcon.weight[first + k] for k in range(4)]
    assert got == pytest.approx([pv, pr, u, tsyn], rel=1e-9)
