package events

// DefaultRegistry returns a registry with every payload type of this build
// at its current schema version, and the upcasters from older versions.
func DefaultRegistry() *Registry {
	r := NewRegistry()
	v1 := []func() Payload{
		func() Payload { return &CeremonyAborted{} },
		func() Payload { return &CeremonyFailed{} },
		func() Payload { return &CeremonyResumed{} },
		func() Payload { return &SecretsLost{} },
		func() Payload { return &StepDeadlineSet{} },
		func() Payload { return &StepCompleted{} },
		func() Payload { return &StepTimedOut{} },
		func() Payload { return &StepRetried{} },
		func() Payload { return &CardRefused{} },
		func() Payload { return &CardRemoved{} },
		func() Payload { return &PINRetriesRead{} },
		func() Payload { return &CardBlocked{} },
		func() Payload { return &GenerateStarted{} },
		func() Payload { return &LoadStarted{} },
		func() Payload { return &WriteConfirmed{} },
		func() Payload { return &ReadConfirmed{} },
		func() Payload { return &KeyGenerated{} },
		func() Payload { return &OverwriteConfirmed{} },
		func() Payload { return &ShareWriteRequested{} },
		func() Payload { return &ShareWritten{} },
		func() Payload { return &ShareWriteFailed{} },
		func() Payload { return &ShareAccepted{} },
		func() Payload { return &SharesDiscarded{} },
		func() Payload { return &KeyReconstructed{} },
		func() Payload { return &KeyMismatch{} },
		func() Payload { return &KeySetVoided{} },
		func() Payload { return &HSMLoadRequested{} },
		func() Payload { return &HSMKeyLoaded{} },
		func() Payload { return &HSMLoadFailed{} },
		func() Payload { return &BackupStarted{} },
		func() Payload { return &KeyWrapped{} },
		func() Payload { return &KeySkipped{} },
		func() Payload { return &BackupWritten{} },
		func() Payload { return &RestoreStarted{} },
		func() Payload { return &KeyRestoreRequested{} },
		func() Payload { return &KeyRestored{} },
		func() Payload { return &KeyRestoreFailed{} },
		func() Payload { return &RestoreCompleted{} },
		func() Payload { return &UserEnrolStarted{} },
		func() Payload { return &UserKeyGenerated{} },
		func() Payload { return &UserCredentialWriteRequested{} },
		func() Payload { return &UserEnrolled{} },
		func() Payload { return &UserActivateStarted{} },
		func() Payload { return &UserSlotActivated{} },
		func() Payload { return &UserSlotDeactivated{} },
		func() Payload { return &PINChangeStarted{} },
		func() Payload { return &PINPolicyRefused{} },
		func() Payload { return &PINChangeRequested{} },
		func() Payload { return &PINChanged{} },
		func() Payload { return &PINChangeResolved{} },
		func() Payload { return &Witnessed{} },
		func() Payload { return &WitnessesRequired{} },
		func() Payload { return &CopyStarted{} },
		func() Payload { return &CopySourceAccepted{} },
		func() Payload { return &RedundancyWarning{} },
		func() Payload { return &ShareCopied{} },
	}
	for _, fn := range v1 {
		r.Register(1, fn)
	}
	r.Register(2, func() Payload { return &CardPresented{} })
	r.RegisterUpcaster("card.presented", 1, upcastCardPresentedV1)
	r.Register(2, func() Payload { return &PINVerified{} })
	r.RegisterUpcaster("card.pin_verified", 1, upcastEntryV1)
	r.Register(2, func() Payload { return &PINRejected{} })
	r.RegisterUpcaster("card.pin_rejected", 1, upcastEntryV1)
	return r
}
