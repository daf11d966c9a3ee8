: NaTa_t -- fast inactivating Na+ current, axonal variant (Colbert & Pan 2002; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 8.
:
:   ina = gNaTa_tbar * m^3 * h * (v - ena)
:
: Time constants are divided by the constant qt = 2.3^((34-21)/10).
: Two exact-equality guards (v == -38, then v == -66, each +1e-4 mV) act in
: this order on a local copy of v; the current uses the true v.

NEURON {
    SUFFIX NaTa_t
    USEION na READ ena WRITE ina
    RANGE gNaTa_tbar, gNaTa_t, ina
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNaTa_tbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNaTa_t (S/cm2)
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
    gNaTa_t = gNaTa_tbar * m * m * m * h
    ina = gNaTa_t * (v - ena)
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
    LOCAL qt, vv, mAlpha, mBeta, hAlpha, hBeta
    qt = 2.3^((34 - 21) / 10)
    vv = vm
    if (vv == -38) {
        vv = vv + 0.0001
    }
    mAlpha = 0.182 * (vv - (-38)) / (1 - exp(-(vv - (-38)) / 6))
    mBeta = 0.124 * (-vv - 38) / (1 - exp(-(-vv - 38) / 6))
    mTau = (1 / (mAlpha + mBeta)) / qt
    mInf = mAlpha / (mAlpha + mBeta)
    if (vv == -66) {
        vv = vv + 0.0001
    }
    hAlpha = -0.015 * (vv - (-66)) / (1 - exp((vv - (-66)) / 6))
    hBeta = -0.015 * (-vv - 66) / (1 - exp((-vv - 66) / 6))
    hTau = (1 / (hAlpha + hBeta)) / qt
    hInf = hAlpha / (hAlpha + hBeta)
}
UNITSON
