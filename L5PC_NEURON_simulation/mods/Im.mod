: Im -- muscarinic (M-type) K+ current (Adams et al. 1982; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 5.
:
:   ik = gImbar * m * (v - ek)
:
: The time constant is divided by the constant qt = 2.3^((34-21)/10).

NEURON {
    SUFFIX Im
    USEION k READ ek WRITE ik
    RANGE gImbar, gIm, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gImbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gIm (S/cm2)
    mInf
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIm = gImbar * m
    ik = gIm * (v - ek)
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
    LOCAL qt, mAlpha, mBeta
    qt = 2.3^((34 - 21) / 10)
    mAlpha = 3.3e-3 * exp(2.5 * 0.04 * (vm - (-35)))
    mBeta = 3.3e-3 * exp(-2.5 * 0.04 * (vm - (-35)))
    mInf = mAlpha / (mAlpha + mBeta)
    mTau = (1 / (mAlpha + mBeta)) / qt
}
UNITSON
