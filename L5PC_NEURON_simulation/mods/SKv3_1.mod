: SKv3_1 -- Kv3.1 fast delayed-rectifier K+ current (Rettig et al. 1992; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 12.
:
:   ik = gSKv3_1bar * m * (v - ek)
:
: No temperature factor, no singularity guard.

NEURON {
    SUFFIX SKv3_1
    USEION k READ ek WRITE ik
    RANGE gSKv3_1bar, gSKv3_1, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gSKv3_1bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gSKv3_1 (S/cm2)
    mInf
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSKv3_1 = gSKv3_1bar * m
    ik = gSKv3_1 * (v - ek)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m) / mTau
}

INITIAL {
    rates(v)
    m = mInf
}

: Rate formulas take v in mV and return ms (units not tracked here).
UNITSOFF
PROCEDURE rates(vm (mV)) {
    mInf = 1 / (1 + exp((vm - 18.700) / (-9.700)))
    mTau = 0.2 * 20.000 / (1 + exp((vm - (-46.560)) / (-44.140)))
}
UNITSON
