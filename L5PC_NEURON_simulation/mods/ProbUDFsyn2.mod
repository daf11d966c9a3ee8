: ProbUDFsyn2 -- dual-exponential synapse with Tsodyks-Markram / Fuhrmann short-term
: plasticity (after the Blue Brain Project synapse used by Hay et al.; here used as
: AMPA, GABA_A or GABA_B through its parameters).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md sections 13 and 15
: and /work/shared/spec/original_behaviour.md section 2.5.
:
:   g = gmax * (B - A),   i = g * (v - e),   A' = -A/tau_r,   B' = -B/tau_d
:
: A released event of weight w adds w*factor to A and B; factor normalises the
: dual exponential so that its peak (at tp) is exactly gmax*w.
:
: Release test. The original used an RNG draw that, without an attached RNG,
: returned 0.0 in practice, i.e. "release iff 0 < Pr". Here this is done
: deterministically: release iff Pr > 0 (false for NaN). There is no RNG.
: The vesicle-recovery formula is kept literal on purpose: with Dep = 0, an
: event at t == tsyn (e.g. the first event at t = 0) gives -(0)/0 = NaN, so Pv
: and Pr become NaN and that NetCon never releases again (spec section 15).

NEURON {
    POINT_PROCESS ProbUDFsyn2
    NONSPECIFIC_CURRENT i
    RANGE tau_r, tau_d, Use, Dep, Fac, u0, gmax, e, g, i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_r = 0.2 (ms)    : rise time constant
    tau_d = 1.7 (ms)    : decay time constant
    Use = 1.0 (1)       : baseline utilisation of synaptic efficacy
    Dep = 100 (ms)      : recovery time constant from depression
    Fac = 10 (ms)       : recovery time constant from facilitation (<= 0: none)
    e = 0 (mV)          : reversal potential
    gmax = 0.001 (uS)   : peak conductance of one released event of weight 1
    u0 = 0 (1)          : initial u of every NetCon (used only when Fac > 0)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor (1)
}

STATE {
    A (1)
    B (1)
}

INITIAL {
    LOCAL tp
    A = 0
    B = 0
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)    : time to peak
    factor = -exp(-tp / tau_r) + exp(-tp / tau_d)
    factor = 1 / factor
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    g = gmax * (B - A)
    i = g * (v - e)
}

DERIVATIVE state {
    A' = -A / tau_r
    B' = -B / tau_d
}

NET_RECEIVE (weight, Pv, Pr, u, tsyn (ms)) {
    INITIAL {
        Pv = 1
        u = u0
        tsyn = t
    }
    : facilitation: u decays back, then jumps by Use*(1 - u)
    if (Fac > 0) {
        u = u * exp(-(t - tsyn) / Fac)
    } else {
        u = Use
    }
    if (Fac > 0) {
        u = u + Use * (1 - u)
    }
    : depression: recovery of the vesicle pool since the previous event
    Pv = 1 - (1 - Pv) * exp(-(t - tsyn) / Dep)
    Pr = u * Pv
    Pv = Pv - u * Pv    : the pool is depleted whether or not release happens
    tsyn = t
    if (Pr > 0) {
        A = A + weight * factor
        B = B + weight * factor
    }
}
