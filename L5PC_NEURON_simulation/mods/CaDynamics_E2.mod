: CaDynamics_E2 -- submembrane Ca2+ shell with first-order removal
: (after Destexhe et al. 1994; as used by Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 1.
:
:   dcai/dt = -10000 * ica * gamma / (2 * F * depth) - (cai - minCai) / decay
:
: ica is the total Ca2+ current density of the segment (mA/cm2), depth in um,
: F in C/mol; the factor 10000 turns the result into mM/ms. gamma is the free
: (unbuffered) fraction. No temperature factor.
: There is deliberately NO INITIAL block: cai starts from the ion default
: cai0_ca_ion (5e-5 mM), not from minCai (spec section 1). cai is not clipped.

NEURON {
    SUFFIX CaDynamics_E2
    USEION ca READ ica WRITE cai
    RANGE decay, gamma, minCai, depth
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
    FARADAY = (faraday) (coulombs)
}

PARAMETER {
    gamma = 0.05 (1)      : free Ca fraction (used as a fraction)
    decay = 80 (ms)       : removal time constant
    depth = 0.1 (um)      : shell depth
    minCai = 1e-4 (mM)    : resting concentration that cai relaxes to
}

ASSIGNED {
    ica (mA/cm2)
}

STATE {
    cai (mM)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    cai' = -(10000) * (ica * gamma / (2 * FARADAY * depth)) - (cai - minCai) / decay
}
