: Ca_HVA -- high-voltage-activated Ca2+ current (Reuveni et al. 1993; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 2.
:
:   ica = gCa_HVAbar * m^2 * h * (v - eca)
:
: No temperature factor. The singularity guard (vm == -27 exactly -> +1e-4 mV)
: acts on a local copy of v inside rates(); the current uses the true v.

NEURON {
    SUFFIX Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gCa_HVAbar, gCa_HVA, ica
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_HVAbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    gCa_HVA (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gCa_HVA = gCa_HVAbar * m * m * h
    ica = gCa_HVA * (v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m) / mTau
    h' = (hInf - h) / hTau
}

INITIAL {
    rates(v)
    m = mInf
    h = hInf
}

: Rate formulas take v in mV and return 1/ms or ms (units not tracked here).
UNITSOFF
PROCEDURE rates(vm (mV)) {
    LOCAL vv, mAlpha, mBeta, hAlpha, hBeta
    vv = vm
    if (vv == -27) {
        vv = vv + 0.0001    : exact-equality guard against 0/0 in mAlpha
    }
    mAlpha = 0.055 * (-27 - vv) / (exp((-27 - vv) / 3.8) - 1)
    mBeta = 0.94 * exp((-75 - vv) / 17)
    mInf = mAlpha / (mAlpha + mBeta)
    mTau = 1 / (mAlpha + mBeta)
    hAlpha = 0.000457 * exp((-13 - vv) / 50)
    hBeta = 0.0065 / (exp((-vv - 15) / 28) + 1)
    hInf = hAlpha / (hAlpha + hBeta)
    hTau = 1 / (hAlpha + hBeta)
}
UNITSON
