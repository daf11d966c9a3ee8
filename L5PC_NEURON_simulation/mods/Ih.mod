: Ih -- hyperpolarisation-activated (HCN) non-specific cation current
: (Kole, Hallermann & Stuart 2006; Hay et al. 2011), with a RANGE voltage shift.
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 4.
:
:   ihcn = gIhbar * m * (v - ehcn)
:
: No temperature factor. The singularity guard compares the local copy of v with
: vhalf itself (not vhalf + vshift) for exact equality and adds 1e-4 mV.

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gIhbar, gIh, ihcn, vshift
    GLOBAL ehcn, vhalf
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gIhbar = 0.00001 (S/cm2)
    ehcn = -45.0 (mV)
    vhalf = -154.9 (mV)
    vshift = 0 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    gIh (S/cm2)
    mInf
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIh = gIhbar * m
    ihcn = gIh * (v - ehcn)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m) / mTau
}

INITIAL {
    rates(v)
    m = mInf
}

: Rate formulas take v in mV and return 1/ms or ms (units not tracked here).
UNITSOFF
PROCEDURE rates(vm (mV)) {
    LOCAL vv, mAlpha, mBeta
    vv = vm
    if (vv == vhalf) {
        vv = vv + 0.0001    : exact-equality guard (covers the 0/0 only when vshift = 0)
    }
    mAlpha = 0.001 * 6.43 * (vv - (vhalf + vshift)) / (exp((vv - (vhalf + vshift)) / 11.9) - 1)
    mBeta = 0.001 * 193 * exp((vv - vshift) / 33.1)
    mInf = mAlpha / (mAlpha + mBeta)
    mTau = 1 / (mAlpha + mBeta)
}
UNITSON
