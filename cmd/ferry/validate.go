package main

// validateCommands checks the serve.* and scan.* sections.
func (c *Config) validateCommands() error {
	return nil
}
