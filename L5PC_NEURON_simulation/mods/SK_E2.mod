: SK_E2 -- small-conductance Ca2+-activated K+ current (Koehler et al. 1996; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 11.
:
:   ik = gSK_E2bar * z * (v - ek),   zInf(cai) = 1 / (1 + (0.00043 mM / cai)^4.8)
:
: No voltage dependence and no temperature factor. If cai < 1e-7 mM (strict
: less-than), 1e-7 mM is added to a local copy before evaluating zInf.
: z is not clipped to [0, 1].

NEURON {
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gSK_E2bar, gSK_E2, ik
    GLOBAL zTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
    (molar) = (1/liter)
    (mM) = (millimolar)
}

PARAMETER {
    gSK_E2bar = 0.000001 (S/cm2)
    zTau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    gSK_E2 (S/cm2)
    zInf
}

STATE {
    z
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSK_E2 = gSK_E2bar * z
    ik = gSK_E2 * (v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zInf - z) / zTau
}

INITIAL {
    rates(cai)
    z = zInf
}

: zInf takes cai in mM (units not tracked here).
UNITSOFF
PROCEDURE rates(ca (mM)) {
    LOCAL c
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zInf = 1 / (1 + (0.00043 / c)^4.8)
}
UNITSON
