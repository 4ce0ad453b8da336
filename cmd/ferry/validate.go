package main

// validateCommands checks the serve.* and scan.* sections.
func (c *Config) validateCommands() error {
	if err := c.Serve.validate(); err != nil {
		return err
	}
	return nil
}
