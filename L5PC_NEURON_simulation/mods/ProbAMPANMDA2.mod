: ProbAMPANMDA2 -- AMPA + NMDA dual-exponential synapse with Tsodyks-Markram /
: Fuhrmann short-term plasticity and an instantaneous Mg2+ block of the NMDA part
: (Jahr & Stevens 1990); after the Blue Brain Project synapse used by Hay et al.
: Written for this project from /work/shared/spec/l5pc_mechanisms.md sections 14 and 15
: and /work/shared/spec/original_behaviour.md section 2.5.
:
:   g_AMPA = gmax * (B_AMPA - A_AMPA)
:   g_NMDA = gmax * (B_NMDA - A_NMDA) * mggate,  mggate = 1 / (1 + exp(-0.08 v) * mg / 3.57 mM)
:   i_AMPA = g_AMPA * (v - e),  i_NMDA = g_NMDA * (v - e),  i = i_AMPA + i_NMDA
:
: Both components get the same weight and share gmax and e; each is normalised
: so that its dual-exponential peak equals gmax*weight.
:
: Release test: deterministic "release iff Pr > 0" (false for NaN), no RNG; see
: ProbUDFsyn2.mod and spec section 15. With Dep = 0 an event at t == tsyn gives
: Pv = Pr = NaN and silences that NetCon for the rest of the run, as in the original.

NEURON {
    POINT_PROCESS ProbAMPANMDA2
    NONSPECIFIC_CURRENT i_AMPA, i_NMDA
    RANGE tau_r_AMPA, tau_d_AMPA, tau_r_NMDA, tau_d_NMDA
    RANGE Use, Dep, Fac, u0, gmax, e
    RANGE i, i_AMPA, i_NMDA, g_AMPA, g_NMDA, mggate
    GLOBAL mg
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (molar) = (1/liter)
    (mM) = (millimolar)
}

PARAMETER {
    tau_r_AMPA = 0.2 (ms)
    tau_d_AMPA = 1.7 (ms)
    tau_r_NMDA = 0.29 (ms)
    tau_d_NMDA = 43 (ms)
    Use = 1.0 (1)       : baseline utilisation of synaptic efficacy
    Dep = 100 (ms)      : recovery time constant from depression
    Fac = 10 (ms)       : recovery time constant from facilitation (<= 0: none)
    e = 0 (mV)          : reversal potential shared by AMPA and NMDA
    mg = 1 (mM)         : extracellular [Mg2+]
    gmax = 0.001 (uS)   : peak conductance of each component for weight 1
    u0 = 0 (1)          : initial u of every NetCon (used only when Fac > 0)
}

ASSIGNED {
    v (mV)
    i (nA)
    i_AMPA (nA)
    i_NMDA (nA)
    g_AMPA (uS)
    g_NMDA (uS)
    mggate (1)
    factor_AMPA (1)
    factor_NMDA (1)
}

STATE {
    A_AMPA (1)
    B_AMPA (1)
    A_NMDA (1)
    B_NMDA (1)
}

INITIAL {
    LOCAL tp_AMPA, tp_NMDA
    A_AMPA = 0
    B_AMPA = 0
    A_NMDA = 0
    B_NMDA = 0
    tp_AMPA = (tau_r_AMPA * tau_d_AMPA) / (tau_d_AMPA - tau_r_AMPA) * log(tau_d_AMPA / tau_r_AMPA)
    tp_NMDA = (tau_r_NMDA * tau_d_NMDA) / (tau_d_NMDA - tau_r_NMDA) * log(tau_d_NMDA / tau_r_NMDA)
    factor_AMPA = -exp(-tp_AMPA / tau_r_AMPA) + exp(-tp_AMPA / tau_d_AMPA)
    factor_AMPA = 1 / factor_AMPA
    factor_NMDA = -exp(-tp_NMDA / tau_r_NMDA) + exp(-tp_NMDA / tau_d_NMDA)
    factor_NMDA = 1 / factor_NMDA
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    mggate = 1 / (1 + exp(0.08 (/mV) * (-v)) * (mg / 3.57 (mM)))
    g_AMPA = gmax * (B_AMPA - A_AMPA)
    g_NMDA = gmax * (B_NMDA - A_NMDA) * mggate
    i_AMPA = g_AMPA * (v - e)
    i_NMDA = g_NMDA * (v - e)
    i = i_AMPA + i_NMDA
}

DERIVATIVE state {
    A_AMPA' = -A_AMPA / tau_r_AMPA
    B_AMPA' = -B_AMPA / tau_d_AMPA
    A_NMDA' = -A_NMDA / tau_r_NMDA
    B_NMDA' = -B_NMDA / tau_d_NMDA
}

NET_RECEIVE (weight, weight_AMPA, weight_NMDA, Pv, Pr, u, tsyn (ms)) {
    INITIAL {
        Pv = 1
        u = u0
        tsyn = t
    }
    weight_AMPA = weight
    weight_NMDA = weight
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
        A_AMPA = A_AMPA + weight_AMPA * factor_AMPA
        B_AMPA = B_AMPA + weight_AMPA * factor_AMPA
        A_NMDA = A_NMDA + weight_NMDA * factor_NMDA
        B_NMDA = B_NMDA + weight_NMDA * factor_NMDA
    }
}
